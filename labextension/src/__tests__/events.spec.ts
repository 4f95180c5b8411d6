import { Backoff, ConnectionState, EventStream, SocketLike } from '../events';

class FakeSocket implements SocketLike {
  static all: FakeSocket[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  closed = false;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  close(): void {
    this.closed = true;
  }
  open(): void {
    this.onopen?.({});
  }
  drop(): void {
    this.onerror?.({});
    this.onclose?.({});
  }
}

describe('Backoff', () => {
  it('grows exponentially up to the cap, without jitter', () => {
    const b = new Backoff(500, 4000, 2, 0);
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([500, 1000, 2000, 4000, 4000]);
    b.reset();
    expect(b.next()).toBe(500);
  });

  it('applies jitter within bounds', () => {
    expect(new Backoff(1000, 30000, 2, 0.2, () => 0).next()).toBe(800);
    expect(new Backoff(1000, 30000, 2, 0.2, () => 1).next()).toBe(1200);
    expect(new Backoff(1000, 1000, 2, 0.2, () => 1).next()).toBe(1000);
  });
});

describe('EventStream', () => {
  beforeEach(() => {
    FakeSocket.all = [];
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  function make(): { stream: EventStream; messages: unknown[]; states: ConnectionState[]; opens: boolean[] } {
    const messages: unknown[] = [];
    const states: ConnectionState[] = [];
    const opens: boolean[] = [];
    const stream = new EventStream({
      url: () => 'ws://h/modelfiles/v1/events',
      onMessage: data => messages.push(data),
      onState: state => states.push(state),
      onOpen: reconnected => opens.push(reconnected),
      createSocket: url => new FakeSocket(url),
      backoff: new Backoff(100, 1000, 2, 0)
    });
    return { stream, messages, states, opens };
  }

  it('delivers messages and reconnects with growing delays', () => {
    const { stream, messages, states, opens } = make();
    stream.start();
    expect(FakeSocket.all.length).toBe(1);
    FakeSocket.all[0].open();
    FakeSocket.all[0].onmessage?.({ data: 'hello' });
    expect(messages).toEqual(['hello']);
    expect(stream.state).toBe('open');

    FakeSocket.all[0].drop();
    expect(stream.state).toBe('closed');
    jest.advanceTimersByTime(99);
    expect(FakeSocket.all.length).toBe(1);
    jest.advanceTimersByTime(1);
    expect(FakeSocket.all.length).toBe(2);
    // fails before opening: next delay doubles
    FakeSocket.all[1].drop();
    jest.advanceTimersByTime(199);
    expect(FakeSocket.all.length).toBe(2);
    jest.advanceTimersByTime(1);
    expect(FakeSocket.all.length).toBe(3);
    FakeSocket.all[2].open();
    expect(opens).toEqual([false, true]);
    // a successful open resets the backoff
    FakeSocket.all[2].drop();
    jest.advanceTimersByTime(100);
    expect(FakeSocket.all.length).toBe(4);
    expect(states[0]).toBe('connecting');
    expect(states).toContain('open');
  });

  it('stops for good: no reconnect after stop()', () => {
    const { stream } = make();
    stream.start();
    FakeSocket.all[0].open();
    stream.stop();
    expect(FakeSocket.all[0].closed).toBe(true);
    jest.advanceTimersByTime(10000);
    expect(FakeSocket.all.length).toBe(1);
    expect(stream.state).toBe('closed');
  });

  it('cancels a pending retry on stop()', () => {
    const { stream } = make();
    stream.start();
    FakeSocket.all[0].drop();
    stream.stop();
    jest.advanceTimersByTime(10000);
    expect(FakeSocket.all.length).toBe(1);
  });

  it('retries when the socket constructor throws', () => {
    let calls = 0;
    const stream = new EventStream({
      url: () => 'ws://x',
      onMessage: () => undefined,
      createSocket: url => {
        calls += 1;
        if (calls === 1) {
          throw new Error('bad');
        }
        return new FakeSocket(url);
      },
      backoff: new Backoff(50, 1000, 2, 0)
    });
    stream.start();
    expect(FakeSocket.all.length).toBe(0);
    jest.advanceTimersByTime(50);
    expect(FakeSocket.all.length).toBe(1);
  });
});
