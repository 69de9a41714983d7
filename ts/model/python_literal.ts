/**
 * Python's `ast.literal_eval` for config values: yacs evaluates every string value of a detectron2 config with it
 * ("(640, 672)" is a tuple, "1e-3" and "0x10" numbers, "'BGR'" a string) and keeps the string when it raises
 * ValueError or SyntaxError. Read as Python 3.11 reads it: numbers (underscores, hex, octal, binary, exponents, one
 * sign), strings (quotes, escapes, r/u prefixes, adjacent ones joined), True / False / None, and tuples and lists of
 * those, nested (tuples as arrays).
 *
 * Returns null where literal_eval raises, and also for the values it reads that a config of this library cannot use
 * (complex numbers, bytes, dicts, sets, Ellipsis, a string with a \N{name} escape): kept as the string, every key the
 * library reads refuses it, as yacs' type check refuses those values.
 */
export type PythonLiteral = number | string | boolean | null | PythonLiteral[];

// Python's tokenizer refuses more nested brackets ("too many nested parentheses").
const MAX_NESTING = 200;
// Python 3.11+ refuses to convert a decimal integer of more digits (sys.int_info.str_digits_check_threshold).
const MAX_DECIMAL_DIGITS = 4300;

type Token = { t: 'number'; v: number } | { t: 'string'; v: string } | { t: 'constant'; v: boolean | null } | { t: 'op'; v: string };

const NUMBER = /0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|(?:(?:\d(?:_?\d)*)?\.\d(?:_?\d)*|\d(?:_?\d)*\.?)(?:[eE][+-]?\d(?:_?\d)*)?/y;
const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;
const ESCAPES: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/** The value literal_eval gives `text`, or null where yacs keeps the string (see above). */
export function pythonLiteral(text: string): { value: PythonLiteral } | null {
  const tokens = tokenize(text);
  if (!tokens || !tokens.length) return null;
  let at = 0;
  const peek = (): Token | undefined => tokens[at];
  const isOp = (tok: Token | undefined, v: string) => tok?.t === 'op' && tok.v === v;

  // An expression: a constant, a signed number, or a bracket. `num`: a bare number (parentheses aside), the only
  // operand a sign takes.
  const expression = (): { v: PythonLiteral; num: boolean } | null => {
    const tok = tokens[at++];
    if (!tok) return null;
    if (tok.t !== 'op') return { v: tok.v, num: tok.t === 'number' };
    if (tok.v === '+' || tok.v === '-') {
      if (peek()?.t === 'op' && (peek()!.v === '+' || peek()!.v === '-')) return null; // "- -1": not a constant
      const operand = expression();
      if (!operand?.num) return null;
      return { v: tok.v === '-' ? -(operand.v as number) : operand.v, num: false };
    }
    if (tok.v === '(' || tok.v === '[') {
      const close = tok.v === '(' ? ')' : ']';
      const seq = items(close);
      if (!seq || !isOp(tokens[at++], close)) return null;
      // (x) is x; (x,), (x, y) and () are tuples; [...] is always a list.
      return close === ')' && seq.items.length === 1 && !seq.comma ? seq.items[0]! : { v: seq.items.map((i) => i.v), num: false };
    }
    return null;
  };
  // Comma-separated expressions up to `end` (not consumed), a trailing comma allowed after one.
  const items = (end: string | null): { items: Array<{ v: PythonLiteral; num: boolean }>; comma: boolean } | null => {
    const out: Array<{ v: PythonLiteral; num: boolean }> = [];
    let comma = false;
    while (peek() && !isOp(peek(), end ?? '')) {
      const e = expression();
      if (!e) return null;
      out.push(e);
      const next = peek();
      if (!next || isOp(next, end ?? '')) break;
      if (!isOp(next, ',')) return null; // a call, a subscript, an operator: not a literal
      at++;
      comma = true;
    }
    return { items: out, comma };
  };

  // At the top, "1, 2" is a tuple too.
  const top = items(null);
  if (!top || at !== tokens.length || !top.items.length) return null;
  return { value: top.items.length === 1 && !top.comma ? top.items[0]!.v : top.items.map((i) => i.v) };
}

function tokenize(source: string): Token[] | null {
  if (source.includes('\0')) return null;
  const s = source.replace(/^[ \t]+/, ''); // as literal_eval
  const tokens: Token[] = [];
  let depth = 0;
  let i = 0;
  let lineEnded = false; // a newline outside brackets: only blank lines and comments may follow
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\f') {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < s.length && s[i] !== '\n' && s[i] !== '\r') i++;
      continue;
    }
    if (c === '\\' && /^\\(\r\n?|\n)/.test(s.slice(i, i + 3))) {
      i += s[i + 1] === '\r' && s[i + 2] === '\n' ? 3 : 2; // a line joined
      if (i === s.length) return null; // to nothing: "unexpected EOF"
      if (!tokens.length && /[ \t\f]/.test(s[i]!)) return null; // an indented first line
      continue;
    }
    if (c === '\n' || c === '\r') {
      i++;
      if (depth) continue;
      // The next line: blank, a comment, or (before any token) content at column 0; else Python refuses it
      // (indentation, or a second statement). A last line of blanks only is an IndentationError too.
      const indent = /^[ \t\f]*/.exec(s.slice(i))![0].length;
      const rest = s[i + indent];
      if (rest === undefined ? indent > 0 : rest !== '\n' && rest !== '\r' && rest !== '#' && (tokens.length > 0 || indent > 0)) return null;
      lineEnded = tokens.length > 0;
      continue;
    }
    if (lineEnded) return null;
    if ('()[],+-'.includes(c)) {
      if (c === '(' || c === '[') {
        if (++depth > MAX_NESTING) return null;
      } else if (c === ')' || c === ']') {
        depth--;
      }
      tokens.push({ t: 'op', v: c });
      i++;
      continue;
    }
    NUMBER.lastIndex = i;
    const num = /[0-9.]/.test(c) ? NUMBER.exec(s) : null;
    if (num) {
      i += num[0].length;
      if (i < s.length && /[\w.]|[^\x00-\x7f]/.test(s[i]!)) return null; // "1_", "1e", "1.5j", "0x1g"
      const v = numberOf(num[0]);
      if (v === null) return null;
      tokens.push({ t: 'number', v });
      continue;
    }
    NAME.lastIndex = i;
    const name = /[A-Za-z_]/.test(c) ? NAME.exec(s)![0] : '';
    const quote = s[i + name.length];
    if (quote === "'" || quote === '"') {
      // A string; r, u (any case) are str prefixes, the rest bytes or f-strings (not used) or invalid.
      if (name && !/^[rRuU]$/.test(name)) return null;
      const str = stringAt(s, i + name.length, /^[rR]$/.test(name));
      if (!str) return null;
      i = str.end;
      const prev = tokens[tokens.length - 1];
      if (prev?.t === 'string') prev.v += str.value; // adjacent strings are one
      else tokens.push({ t: 'string', v: str.value });
      continue;
    }
    if (name) {
      i += name.length;
      if (i < s.length && /[^\x00-\x7f]/.test(s[i]!)) return null; // a longer identifier
      if (name === 'True' || name === 'False') tokens.push({ t: 'constant', v: name === 'True' });
      else if (name === 'None') tokens.push({ t: 'constant', v: null });
      else return null; // a name: literal_eval raises ValueError
      continue;
    }
    return null; // {, :, ..., an operator, a character Python does not read
  }
  return tokens;
}

// A number token's value: null for a decimal integer with leading zeros (a SyntaxError) or too many digits.
function numberOf(tok: string): number | null {
  const t = tok.replace(/_/g, '');
  if (/^0[xXoObB]/.test(t)) return Number(BigInt(t.toLowerCase()));
  if (/[.eE]/.test(t)) return Number(t);
  if (!/^(?:[1-9]\d*|0+)$/.test(t) || t.length > MAX_DECIMAL_DIGITS) return null;
  return t.length <= 15 ? Number(t) : Number(BigInt(t));
}

// A string literal at `from` (its opening quote): its value and where it ends, or null (unclosed, a newline in a
// one-line string, a bad escape, a \N{name} escape).
function stringAt(s: string, from: number, raw: boolean): { value: string; end: number } | null {
  const q = s[from]!;
  const triple = s.startsWith(q.repeat(3), from);
  const close = triple ? q.repeat(3) : q;
  let value = '';
  let i = from + close.length;
  while (i < s.length) {
    if (s.startsWith(close, i)) return { value, end: i + close.length };
    const c = s[i]!;
    if ((c === '\n' || c === '\r') && !triple) return null;
    if (c === '\r') {
      value += '\n'; // Python reads \r\n and \r in its source as \n
      i += s[i + 1] === '\n' ? 2 : 1;
      continue;
    }
    if (c !== '\\') {
      value += c;
      i++;
      continue;
    }
    const e = s[i + 1];
    if (e === undefined) return null;
    if (raw) {
      // A backslash stays, and keeps the character after it from closing the string.
      value += c + e;
      i += 2;
      continue;
    }
    if (e === '\n' || e === '\r') {
      i += e === '\r' && s[i + 2] === '\n' ? 3 : 2; // a line continued
      continue;
    }
    if (ESCAPES[e] !== undefined) {
      value += ESCAPES[e];
      i += 2;
      continue;
    }
    const oct = /^[0-7]{1,3}/.exec(s.slice(i + 1, i + 4));
    if (oct) {
      value += String.fromCharCode(parseInt(oct[0], 8));
      i += 1 + oct[0].length;
      continue;
    }
    const hexLength = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
    if (hexLength) {
      const hex = s.slice(i + 2, i + 2 + hexLength);
      if (!new RegExp(`^[0-9a-fA-F]{${hexLength}}$`).test(hex)) return null;
      const code = parseInt(hex, 16);
      if (code > 0x10ffff) return null;
      value += String.fromCodePoint(code);
      i += 2 + hexLength;
      continue;
    }
    if (e === 'N') return null; // a character by name: not read here (kept as the string)
    value += c + e; // an unknown escape stays as written
    i += 2;
  }
  return null;
}
