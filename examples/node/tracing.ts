/**
 * The set-up every example shares: a NodeTracerProvider whose only processor is canceltrace's
 * SnapshotSpanProcessor (it exports to OTEL_EXPORTER_OTLP_ENDPOINT, default http://127.0.0.1:4318).
 */
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { nodeResource, SnapshotSpanProcessor } from '../../instrument/node/src/index.js';

/** How long an example runs before it sends itself SIGTERM (ms); EXAMPLE_RUN_MS overrides it. */
const DEFAULT_RUN_MS = 300;

/** Registers the provider for `service` and returns it with its processor. */
export function startTracing(service: string): { provider: NodeTracerProvider; processor: SnapshotSpanProcessor } {
  const processor = new SnapshotSpanProcessor();
  const provider = new NodeTracerProvider({
    resource: nodeResource({ 'service.name': service }),
    spanProcessors: [processor],
  });
  provider.register();
  return { provider, processor };
}

/**
 * Prints `ready` and, unless a SIGTERM arrives first, sends one to this process after the run
 * time, so that each example can be run on its own and still goes through a real signal.
 */
export function runUntilSigterm(): void {
  const runMs = Number(process.env.EXAMPLE_RUN_MS ?? DEFAULT_RUN_MS);
  console.log(`ready pid=${process.pid}`);
  const timer = setTimeout(() => process.kill(process.pid, 'SIGTERM'), runMs);
  process.once('SIGTERM', () => clearTimeout(timer));
}
