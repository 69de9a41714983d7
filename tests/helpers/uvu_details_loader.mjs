// The module hook of uvu_details_hook.mjs: as uvu's dist/index.mjs loads, its format() gets a line that turns a
// non-string `details` into JSON. Any other module, or another uvu whose text differs, loads unchanged.
const FROM = "let { details, operator='' } = err;";
const ADD =
  " if (details != null && typeof details !== 'string') { try { details = JSON.stringify(details, null, 2); } catch { details = String(details); } }";

export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  if (!url.endsWith('/uvu/dist/index.mjs') || result.source == null) return result;
  const text = typeof result.source === 'string' ? result.source : Buffer.from(result.source).toString('utf8');
  return text.includes(FROM) ? { ...result, source: text.replace(FROM, FROM + ADD) } : result;
}
