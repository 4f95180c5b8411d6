import { throttledProgress } from '../progress';

describe('throttledProgress', () => {
  it('reports the first event, then at most once per interval, and always the end', () => {
    let clock = 1000;
    const seen: Array<[number, number]> = [];
    const progress = throttledProgress(
      (loaded, total) => seen.push([loaded, total]),
      200,
      () => clock
    );
    progress(10, 100); // first: reported
    clock += 50;
    progress(20, 100); // 50 ms later: dropped
    clock += 100;
    progress(30, 100); // 150 ms after the last report: dropped
    clock += 60;
    progress(40, 100); // 210 ms: reported
    clock += 10;
    progress(100, 100); // the end: reported however soon
    expect(seen).toEqual([
      [10, 100],
      [40, 100],
      [100, 100]
    ]);
  });
});
