// Prints the functions with the most self time in a V8 CPU profile (node --cpu-prof writes them).
// Usage: node bench/ingest/topFunctions.mjs FILE.cpuprofile [count]
import { readFileSync } from 'node:fs';

const [file, countText] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/ingest/topFunctions.mjs FILE.cpuprofile [count]');
  process.exit(2);
}
const count = Number(countText ?? 30);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
// Each sample is one node id; its time delta is the self time of that node's function.
const selfMicros = new Map();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  total += dt;
  const { functionName, url, lineNumber } = nodes.get(id).callFrame;
  const where = url ? `${url.split('/').slice(-2).join('/')}:${lineNumber + 1}` : '';
  const key = `${functionName || '(anonymous)'} ${where}`.trim();
  selfMicros.set(key, (selfMicros.get(key) ?? 0) + dt);
});
console.log(`total ${(total / 1000).toFixed(0)} ms`);
for (const [key, micros] of [...selfMicros].sort((a, b) => b[1] - a[1]).slice(0, count)) {
  console.log(`${(micros / 1000).toFixed(0).padStart(7)} ms ${((100 * micros) / total).toFixed(1).padStart(5)}%  ${key}`);
}
