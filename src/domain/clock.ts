/** Where "now" comes from; tests inject one they can move. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that stands still until told to move: for tests at exact boundaries. */
export class ManualClock implements Clock {
  private current: number;
  constructor(start: Date | string = '2026-01-15T09:00:00.000Z') {
    this.current = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.current);
  }
  advanceMs(ms: number): void {
    this.current += ms;
  }
  advanceSeconds(seconds: number): void {
    this.advanceMs(seconds * 1000);
  }
  advanceHours(hours: number): void {
    this.advanceMs(hours * 3_600_000);
  }
  set(at: Date | string): void {
    this.current = new Date(at).getTime();
  }
}

export function addMs(at: Date, ms: number): Date {
  return new Date(at.getTime() + ms);
}

export const MS_PER_MINUTE = 60_000;
export const MS_PER_HOUR = 3_600_000;
export const MS_PER_DAY = 86_400_000;
