let waiters = 0;

/** How many commands are waiting on a signal to stop cleanly (so the process-wide fallback stays out). */
export const activeSignalWaiters = () => waiters;

/** Resolves on the first SIGINT or SIGTERM; `dispose` removes the listeners. */
export function untilSignal(signals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM']) {
  let dispose = () => {};
  waiters += 1;
  let disposed = false;
  const promise = new Promise<NodeJS.Signals>((resolve) => {
    const listener = (signal: NodeJS.Signals) => {
      dispose();
      resolve(signal);
    };
    for (const signal of signals) process.on(signal, listener);
    dispose = () => {
      if (!disposed) waiters -= 1;
      disposed = true;
      for (const signal of signals) process.off(signal, listener);
    };
  });
  return { promise, dispose: () => dispose() };
}
