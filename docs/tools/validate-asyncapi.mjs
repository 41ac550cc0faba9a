// Validates an AsyncAPI document: exits 1 and prints every error (and warnings) if it is
// not valid AsyncAPI 3.0.
//   node validate-asyncapi.mjs ../asyncapi.yaml
import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';

const path = process.argv[2];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(path, 'utf8'));
const errors = diagnostics.filter((d) => d.severity === 0);
for (const d of diagnostics) {
  const level = ['error', 'warning', 'info', 'hint'][d.severity] ?? 'note';
  console.log(`${level}: ${d.message} at ${d.path.join('.')}`);
}
if (!document || errors.length > 0) {
  console.log(`${path}: ${errors.length} error(s)`);
  process.exit(1);
}
console.log(`${path}: valid AsyncAPI ${document.version()}, ${document.channels().length} channels, ` +
            `${document.operations().length} operations`);
