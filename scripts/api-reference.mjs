#!/usr/bin/env node
// Writes docs/api.md, the reference of every export of the package: what `import ... from 'sotr-node'` gives (values
// and types), grouped by the source file that defines it, each with its declaration and its doc comment, read from
// the TypeScript sources with the compiler API (typescript is a dev dependency). Classes list their public members.
// tests/package/api_docs.test.mjs regenerates it in memory: the committed file must be current, and every export and
// public member must have a doc comment.
//   node scripts/api-reference.mjs           write docs/api.md
//   node scripts/api-reference.mjs --check   exit 1 (naming what differs) when docs/api.md is stale or a doc is missing
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const ts = require('typescript');

// Sections in this order (source file → title); a file not listed goes under its own path at the end.
const SECTIONS = [
  ['model/sotr.ts', 'The model'],
  ['model/config.ts', 'Model configuration'],
  ['model/preprocess.ts', 'Images'],
  ['model/postprocess.ts', 'Instances'],
  ['model/coco.ts', 'COCO classes'],
  ['model/random_model.ts', 'Random models'],
  ['masks/mask.ts', 'Masks'],
  ['masks/bitmasks.ts', 'Mask sets'],
  ['masks/label_map.ts', 'Masks'],
  ['masks/rle.ts', 'RLE'],
  ['ops/mask_rle.ts', 'RLE'],
  ['ops/mask_contours.ts', 'Contours and polygons'],
  ['masks/approx_poly.ts', 'Contours and polygons'],
  ['render.ts', 'Drawing'],
  ['eval/coco_eval.ts', 'COCO evaluation'],
  ['eval/coco_results.ts', 'COCO evaluation'],
  ['checkpoint/index.ts', 'Checkpoints'],
  ['checkpoint/types.ts', 'Checkpoints'],
  ['checkpoint/config.ts', 'Checkpoints'],
  ['checkpoint/safetensors.ts', 'Checkpoints'],
  ['tensor.ts', 'Tensors'],
  ['device.ts', 'Devices and memory'],
  ['native.ts', 'Devices and memory'],
  ['host_memory.ts', 'Devices and memory'],
  ['profile.ts', 'Profiling'],
  ['errors.ts', 'Errors'],
];

function relSource(decl) {
  return path.relative(path.join(root, 'ts'), decl.getSourceFile().fileName).split(path.sep).join('/');
}

function sectionOf(file) {
  const hit = SECTIONS.find(([f]) => f === file);
  if (hit) return hit[1];
  if (file.startsWith('ops/')) return 'Ops';
  if (file.startsWith('checkpoint/')) return 'Checkpoints';
  return file;
}

const oneLine = (s) => s.replace(/\s+/g, ' ').trim();

/** The declaration as written, without its body: a signature, a type, an interface, a class head. */
function declarationText(decl, sf) {
  const text = (n) => n.getText(sf);
  const mods = (n) => (ts.getModifiers?.(n) ?? []).filter((m) => m.kind !== ts.SyntaxKind.ExportKeyword && m.kind !== ts.SyntaxKind.DefaultKeyword).map(text).join(' ');
  const pre = (n) => (mods(n) ? `${mods(n)} ` : '');
  if (ts.isFunctionDeclaration(decl)) {
    const tp = decl.typeParameters ? `<${decl.typeParameters.map(text).join(', ')}>` : '';
    return `${pre(decl)}function ${decl.name.text}${tp}(${decl.parameters.map(text).join(', ')})${decl.type ? `: ${text(decl.type)}` : ''}`;
  }
  if (ts.isClassDeclaration(decl)) {
    const heritage = decl.heritageClauses ? ` ${decl.heritageClauses.map(text).join(' ')}` : '';
    return `${pre(decl)}class ${decl.name.text}${heritage}`;
  }
  if (ts.isVariableDeclaration(decl)) {
    const list = decl.parent;
    const kind = list.flags & ts.NodeFlags.Const ? 'const' : 'let';
    const type = decl.type ? text(decl.type) : null;
    // A constant's value when it is short (a number, a string), else its type.
    const init = decl.initializer && decl.initializer.getText(sf).length <= 60 ? decl.initializer.getText(sf) : null;
    return `${kind} ${decl.name.getText(sf)}${type ? `: ${type}` : ''}${!type && init ? ` = ${init}` : ''}`;
  }
  // Interfaces, type aliases, enums: as written (comments inside are kept; they document the fields).
  return text(decl);
}

const docOf = (symbol, checker) => ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim();
const jsdocOf = (node) => ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc).map((d) => ts.getTextOfJSDocComment(d.comment) ?? '').join('\n').trim();

/** A class's public members (not private, not #private, not @internal), each with its signature and doc. */
function classMembers(decl, sf) {
  const out = [];
  for (const m of decl.members) {
    if (ts.isClassStaticBlockDeclaration(m) || ts.isSemicolonClassElement(m)) continue;
    if (m.name && ts.isPrivateIdentifier(m.name)) continue;
    const mods = (ts.getModifiers?.(m) ?? []).map((x) => x.kind);
    if (mods.includes(ts.SyntaxKind.PrivateKeyword) || mods.includes(ts.SyntaxKind.ProtectedKeyword)) continue;
    if (ts.getJSDocTags(m).some((t) => t.tagName.text === 'internal')) continue;
    const st = mods.includes(ts.SyntaxKind.StaticKeyword) ? 'static ' : '';
    // Overloads (constructors, or methods of one name): the heads are the signatures, the implementation is not listed.
    const siblings = decl.members.filter((o) => o.kind === m.kind && (ts.isConstructorDeclaration(m) || o.name?.getText(sf) === m.name?.getText(sf)));
    if (siblings.length > 1 && m.body) continue;
    let sig;
    let name;
    if (ts.isConstructorDeclaration(m)) {
      name = 'constructor';
      sig = `new ${decl.name.text}(${m.parameters.map((p) => p.getText(sf)).join(', ')})`;
    } else if (ts.isMethodDeclaration(m)) {
      name = m.name.getText(sf);
      const tp = m.typeParameters ? `<${m.typeParameters.map((t) => t.getText(sf)).join(', ')}>` : '';
      const asy = mods.includes(ts.SyntaxKind.AsyncKeyword) ? 'async ' : '';
      sig = `${st}${asy}${name}${tp}(${m.parameters.map((p) => p.getText(sf)).join(', ')})${m.type ? `: ${m.type.getText(sf)}` : ''}`;
    } else if (ts.isGetAccessorDeclaration(m)) {
      name = m.name.getText(sf);
      sig = `${st}get ${name}()${m.type ? `: ${m.type.getText(sf)}` : ''}`;
    } else if (ts.isPropertyDeclaration(m)) {
      name = m.name.getText(sf);
      const ro = mods.includes(ts.SyntaxKind.ReadonlyKeyword) ? 'readonly ' : '';
      sig = `${st}${ro}${name}${m.questionToken ? '?' : ''}${m.type ? `: ${m.type.getText(sf)}` : ''}`;
    } else {
      continue; // setters (documented with their getters), index signatures
    }
    // An overload head without a doc comment: the first head's that has one.
    let doc = jsdocOf(m) || (siblings.map(jsdocOf).find(Boolean) ?? '');
    if (!doc && name === '[Symbol.dispose]') doc = '`using x = …`: calls `dispose()` at the end of the scope.';
    if (!doc && name === '[Symbol.asyncDispose]') doc = '`await using x = …`: awaits `dispose()` at the end of the scope.';
    out.push({ name, sig: oneLine(sig), doc });
  }
  return out;
}

export function buildApiReference() {
  const entry = path.join(root, 'ts', 'index.ts');
  const config = ts.readConfigFile(path.join(root, 'tsconfig.json'), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  const program = ts.createProgram([entry], { ...parsed.options, noEmit: true });
  const checker = program.getTypeChecker();
  const moduleSym = checker.getSymbolAtLocation(program.getSourceFile(entry));
  const exports = checker.getExportsOfModule(moduleSym);
  const items = [];
  const missing = [];
  for (const exp of exports) {
    const sym = exp.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exp) : exp;
    const decls = sym.declarations ?? [];
    if (!decls.length) continue;
    // Overloaded functions: every head (the implementation's signature is not callable from outside).
    const fnDecls = decls.filter(ts.isFunctionDeclaration);
    const shown = fnDecls.length > 1 ? fnDecls.filter((d) => !d.body) : [decls[0]];
    const main = shown[0];
    const sf = main.getSourceFile();
    const kind = ts.isFunctionDeclaration(main)
      ? 'function'
      : ts.isClassDeclaration(main)
        ? 'class'
        : ts.isInterfaceDeclaration(main)
          ? 'interface'
          : ts.isTypeAliasDeclaration(main)
            ? 'type'
            : ts.isVariableDeclaration(main)
              ? 'const'
              : ts.SyntaxKind[main.kind];
    const doc = docOf(sym, checker);
    const name = exp.getName();
    if (!doc) missing.push(name);
    const members = kind === 'class' ? classMembers(main, sf) : [];
    // Constructors and the dispose symbols say what they do by their names; every other member needs a doc comment.
    for (const m of members) if (!m.doc && m.name !== 'constructor' && !m.name.startsWith('[Symbol.')) missing.push(`${name}.${m.name}`);
    items.push({ name, kind, file: relSource(main), sigs: shown.map((d) => declarationText(d, sf)), doc, members });
  }
  // Group by section, in SECTIONS order, then by name.
  const order = [...new Set([...SECTIONS.map(([, t]) => t), 'Ops'])];
  const bySection = new Map();
  for (const it of items) {
    const s = sectionOf(it.file);
    if (!bySection.has(s)) bySection.set(s, []);
    bySection.get(s).push(it);
  }
  const sections = [...bySection.keys()].sort((a, b) => {
    const ia = order.indexOf(a);
    const ib = order.indexOf(b);
    return (ia < 0 ? 1e9 : ia) - (ib < 0 ? 1e9 : ib) || a.localeCompare(b);
  });
  const kindRank = { class: 0, function: 1, const: 2, interface: 3, type: 4 };
  let md = '# API reference\n\n';
  md += '<!-- Generated by `node scripts/api-reference.mjs` from the TypeScript sources; do not edit by hand.\n';
  md += '     tests/package/api_docs.test.mjs fails when this file is stale or an export has no doc comment. -->\n\n';
  md += `Everything \`sotr-node\` exports (${items.length} names: ${items.filter((i) => i.kind === 'class' || i.kind === 'function' || i.kind === 'const').length} values, `;
  md += `${items.filter((i) => i.kind === 'interface' || i.kind === 'type').length} types), grouped by topic, with its declaration and documentation. `;
  md += 'The guides: [README](../README.md), [model](model.md), [masks](masks.md), [checkpoints](checkpoints.md), ';
  md += '[conventions](CONVENTIONS.md) (errors, memory, ops).\n\n';
  md += sections.map((s) => `- [${s}](#${s.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')})`).join('\n') + '\n';
  for (const s of sections) {
    md += `\n## ${s}\n`;
    const list = bySection.get(s).sort((a, b) => (kindRank[a.kind] ?? 9) - (kindRank[b.kind] ?? 9) || a.name.localeCompare(b.name));
    for (const it of list) {
      md += `\n### \`${it.name}\` (${it.kind})\n\n`;
      md += '```ts\n' + it.sigs.join('\n') + '\n```\n\n';
      if (it.doc) md += `${it.doc}\n`;
      if (it.members.length) {
        md += '\n| member | |\n|---|---|\n';
        for (const m of it.members) md += `| \`${m.sig.replace(/\|/g, '\\|')}\` | ${oneLine(m.doc).replace(/\|/g, '\\|')} |\n`;
      }
      md += `\n<sub>ts/${it.file}</sub>\n`;
    }
  }
  return { md, missing, count: items.length };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = path.join(root, 'docs', 'api.md');
  const { md, missing, count } = buildApiReference();
  if (process.argv.includes('--check')) {
    let bad = false;
    if (missing.length) {
      console.error(`no doc comment: ${missing.join(', ')}`);
      bad = true;
    }
    let current = '';
    try {
      current = readFileSync(out, 'utf8');
    } catch {}
    if (current !== md) {
      console.error('docs/api.md is stale: run node scripts/api-reference.mjs');
      bad = true;
    }
    process.exit(bad ? 1 : 0);
  }
  writeFileSync(out, md);
  console.log(`wrote docs/api.md: ${count} exports${missing.length ? `; no doc comment: ${missing.join(', ')}` : ''}`);
}
