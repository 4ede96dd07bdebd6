// Overhead of canceltrace's Node instrumentation, printed as ratios in one run.
// Needs the build (`npm run build`): it measures the compiled package, as an app would use it.
//   node bench/node-overhead/run.mjs
import { trace } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { runTask, SnapshotSpanProcessor } from '../../dist/instrument/node/src/index.js';

const SPANS = 100_000;
/** Spans made between two yields to the event loop, so the processors' exports run as in an app. */
const CHUNK = 1_000;
/**
 * Rounds; each runs both sides back to back, and a ratio is the median of the rounds' own ratios, so
 * that other processes slowing the machine for a while slow both sides of a round alike.
 */
const ROUNDS = 9;
const SPAN_LIMIT = 1.3;
const TASK_LIMIT = 2;

/** Accepts every batch at once: the bench measures the processors, not a network. */
class NullExporter {
  export(_spans, done) {
    done({ code: ExportResultCode.SUCCESS });
  }
  async shutdown() {}
}

const yieldToLoop = () => new Promise((resolve) => setImmediate(resolve));

async function makeSpans(tracer) {
  const started = performance.now();
  for (let i = 0; i < SPANS; i += CHUNK) {
    for (let j = 0; j < CHUNK; j++) tracer.startSpan('op', { attributes: { 'task.kind': 'node' } }).end();
    await yieldToLoop();
  }
  return performance.now() - started;
}

async function spanRound(withLifecycle) {
  const spanProcessors = [new BatchSpanProcessor(new NullExporter())];
  if (withLifecycle) spanProcessors.unshift(new SnapshotSpanProcessor({ exporter: new NullExporter() }));
  const provider = new NodeTracerProvider({ spanProcessors });
  const ms = await makeSpans(provider.getTracer('canceltrace'));
  await provider.shutdown();
  return ms;
}

async function taskLoop(useRunTask, tracer) {
  const work = async () => 1;
  const started = performance.now();
  let sum = 0;
  for (let i = 0; i < SPANS; i++) {
    if (useRunTask) {
      sum += await runTask('t', work);
    } else {
      const span = tracer.startSpan('t');
      try {
        sum += await work();
      } finally {
        span.end();
      }
    }
  }
  if (sum !== SPANS) throw new Error('bench lost results');
  return performance.now() - started;
}

const round1 = (x) => Math.round(x * 10) / 10;
const round2 = (x) => Math.round(x * 100) / 100;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ratios = (a, b) => a.map((x, i) => x / b[i]);

async function main() {
  const base = [];
  const withLifecycle = [];
  await spanRound(false); // warm-up
  await spanRound(true);
  for (let r = 0; r < ROUNDS; r++) {
    base.push(await spanRound(false));
    withLifecycle.push(await spanRound(true));
  }

  const provider = new NodeTracerProvider({
    spanProcessors: [new SnapshotSpanProcessor({ exporter: new NullExporter() }), new BatchSpanProcessor(new NullExporter())],
  });
  provider.register();
  const tracer = trace.getTracer('canceltrace');
  const bare = [];
  const tasks = [];
  await taskLoop(false, tracer); // warm-up
  await taskLoop(true, tracer);
  for (let r = 0; r < ROUNDS; r++) {
    bare.push(await taskLoop(false, tracer));
    tasks.push(await taskLoop(true, tracer));
  }
  await provider.shutdown();

  const spanRatio = median(ratios(withLifecycle, base));
  const taskRatio = median(ratios(tasks, bare));
  const line = (label, a, b, ratio, limit) =>
    `${label}: ${median(a).toFixed(1)} ms vs ${median(b).toFixed(1)} ms = ${ratio.toFixed(2)}x (limit ${limit}x) ${ratio <= limit ? 'ok' : 'OVER'}`;
  console.log(`node-overhead (${SPANS} spans, medians of ${ROUNDS} paired rounds, node ${process.version})`);
  console.log(line('SnapshotSpanProcessor+BatchSpanProcessor vs BatchSpanProcessor', withLifecycle, base, spanRatio, SPAN_LIMIT));
  console.log(line('runTask(resolved) vs bare call with a plain span', tasks, bare, taskRatio, TASK_LIMIT));
  console.log(
    JSON.stringify({
      bench: 'node-overhead',
      spans: SPANS,
      rounds: ROUNDS,
      processorMs: round1(median(withLifecycle)),
      batchOnlyMs: round1(median(base)),
      processorRatio: round2(spanRatio),
      processorLimit: SPAN_LIMIT,
      runTaskMs: round1(median(tasks)),
      bareMs: round1(median(bare)),
      runTaskRatio: round2(taskRatio),
      runTaskLimit: TASK_LIMIT,
    }),
  );
  if (spanRatio > SPAN_LIMIT || taskRatio > TASK_LIMIT) process.exitCode = 1;
}

await main();
