/**
 * The `v1/events` WebSocket with automatic reconnection (exponential backoff with jitter).
 * No JupyterLab imports: the socket constructor and timers are injectable for tests.
 */

/** Exponential backoff: initial, initial*factor, ... capped at max, each +- jitter. */
export class Backoff {
  private _attempt = 0;

  constructor(
    readonly initialMs = 500,
    readonly maxMs = 30000,
    readonly factor = 2,
    readonly jitter = 0.2,
    private readonly _random: () => number = Math.random
  ) {}

  get attempt(): number {
    return this._attempt;
  }

  /** The delay before the next attempt; grows each call. */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * Math.pow(this.factor, this._attempt));
    this._attempt += 1;
    const spread = base * this.jitter * (2 * this._random() - 1);
    return Math.max(0, Math.round(Math.min(this.maxMs, base + spread)));
  }

  /** After a successful connection. */
  reset(): void {
    this._attempt = 0;
  }
}

export type ConnectionState = 'connecting' | 'open' | 'closed';

/** The subset of the browser WebSocket the stream uses. */
export interface SocketLike {
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  close(code?: number, reason?: string): void;
}

export interface EventStreamOptions {
  url: () => string;
  onMessage: (data: unknown) => void;
  onState?: (state: ConnectionState, retryInMs?: number) => void;
  /** Called after every (re)connection: reload what may have been missed. */
  onOpen?: (reconnected: boolean) => void;
  createSocket?: (url: string) => SocketLike;
  backoff?: Backoff;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

export class EventStream {
  private _socket: SocketLike | null = null;
  private _timer: unknown = null;
  private _stopped = true;
  private _opened = false;
  private readonly _backoff: Backoff;
  private _state: ConnectionState = 'closed';

  constructor(private readonly _options: EventStreamOptions) {
    this._backoff = _options.backoff ?? new Backoff();
  }

  get state(): ConnectionState {
    return this._state;
  }

  start(): void {
    if (!this._stopped) {
      return;
    }
    this._stopped = false;
    this._connect();
  }

  stop(): void {
    this._stopped = true;
    if (this._timer !== null) {
      (this._options.clearTimer ?? clearTimeout)(this._timer as ReturnType<typeof setTimeout>);
      this._timer = null;
    }
    const socket = this._socket;
    this._socket = null;
    if (socket) {
      socket.onclose = null;
      socket.onmessage = null;
      socket.onerror = null;
      socket.onopen = null;
      socket.close();
    }
    this._setState('closed');
  }

  private _setState(state: ConnectionState, retryInMs?: number): void {
    this._state = state;
    this._options.onState?.(state, retryInMs);
  }

  private _connect(): void {
    this._timer = null;
    if (this._stopped) {
      return;
    }
    this._setState('connecting');
    const create = this._options.createSocket ?? ((url: string): SocketLike => new WebSocket(url) as SocketLike);
    let socket: SocketLike;
    try {
      socket = create(this._options.url());
    } catch {
      this._scheduleReconnect();
      return;
    }
    this._socket = socket;
    socket.onopen = () => {
      this._backoff.reset();
      const reconnected = this._opened;
      this._opened = true;
      this._setState('open');
      this._options.onOpen?.(reconnected);
    };
    socket.onmessage = ev => this._options.onMessage(ev.data);
    socket.onerror = () => {
      // onclose follows and schedules the retry
    };
    socket.onclose = () => {
      if (this._socket === socket) {
        this._socket = null;
        this._scheduleReconnect();
      }
    };
  }

  private _scheduleReconnect(): void {
    if (this._stopped) {
      return;
    }
    const delay = this._backoff.next();
    this._setState('closed', delay);
    const set = this._options.setTimer ?? ((fn: () => void, ms: number) => setTimeout(fn, ms));
    this._timer = set(() => this._connect(), delay);
  }
}
