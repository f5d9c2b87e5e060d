/** Resolves on the first SIGINT or SIGTERM; `dispose` removes the listeners. */
export function untilSignal(signals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM']) {
  let dispose = () => {};
  const promise = new Promise<NodeJS.Signals>((resolve) => {
    const listener = (signal: NodeJS.Signals) => {
      dispose();
      resolve(signal);
    };
    for (const signal of signals) process.on(signal, listener);
    dispose = () => {
      for (const signal of signals) process.off(signal, listener);
    };
  });
  return { promise, dispose: () => dispose() };
}
