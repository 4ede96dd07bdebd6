import { getJson, type Served, waitFor } from './serve.js';

/** The task named `name` among `tasks`; fails naming the tasks there are. */
export function byName<T extends { name: string }>(tasks: T[], name: string): T {
  const found = tasks.find((t) => t.name === name);
  if (!found) throw new Error(`no task ${name} in ${tasks.map((t) => t.name).join(', ')}`);
  return found;
}

/** Polls the task list of a service (up to 500 tasks) until `ready` holds for it, for at most `timeoutMillis`. */
export function tasksOf<T>(served: Pick<Served, 'uiUrl'>, service: string, ready: (tasks: T[]) => boolean, timeoutMillis: number): Promise<T[]> {
  return waitFor(
    async () => {
      const body = await getJson<{ tasks: T[] }>(served, `/api/tasks?service=${encodeURIComponent(service)}&limit=500`);
      return ready(body.tasks) ? body.tasks : undefined;
    },
    timeoutMillis,
    `tasks of ${service}`,
  );
}

/** Polls until a shutdown of the service matches `ready` (its summary and full view), for at most `timeoutMillis`; returns the view with its summary. */
export function shutdownOf<S extends { id: string }, V extends object>(
  served: Pick<Served, 'uiUrl'>,
  service: string,
  ready: (summary: S, view: V) => boolean,
  timeoutMillis: number,
): Promise<V & { summary: S }> {
  return waitFor(
    async () => {
      for (const summary of await getJson<S[]>(served, `/api/shutdowns?service=${encodeURIComponent(service)}`)) {
        const view = await getJson<V>(served, `/api/shutdowns/${summary.id}`);
        if (ready(summary, view)) return { ...view, summary };
      }
      return undefined;
    },
    timeoutMillis,
    `a shutdown of ${service}`,
  );
}
