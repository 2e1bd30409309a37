import { ByteBudget } from '../../src/admin/scrape-budget';

describe('the scrape byte budget', () => {
  test('lets a second of bytes through at once, then refills continuously; a refused scrape spends nothing', () => {
    let now = 0;
    const budget = new ByteBudget(1000, () => now);
    expect([budget.take(600), budget.take(400), budget.take(1)]).toEqual([true, true, false]);
    now = 500;
    expect([budget.take(600), budget.take(500), budget.take(1)]).toEqual([false, true, false]);
  });

  test('a body bigger than a second of budget passes when the bucket is full, and leaves it in debt', () => {
    let now = 0;
    const budget = new ByteBudget(1000, () => now);
    expect(budget.take(2500)).toBe(true);
    now = 1000;
    expect(budget.take(10)).toBe(false); // 1.5 s of debt: -1500 + 1000
    now = 2500;
    expect(budget.take(2500)).toBe(true);
  });
});
