// Bounded fan-out: run an async step over many items with at most `limit` in flight, so a burst
// (an alert naming a hundred nodes, a retention sweep over thousands of rows) neither overwhelms the
// storage account nor waits for one item at a time.

/**
 * Maps `items` through `step` with at most `limit` calls running; results keep the items' order.
 * The first failure rejects the whole map and no further item is started.
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  step: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency limit must be >= 1, got ${limit}`);
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await step(items[index], index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
