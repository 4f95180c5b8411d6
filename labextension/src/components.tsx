/**
 * Pieces shared by the sidebar and the main-area view: progress bar, spinner, copy button,
 * and a model file's row (progress, pause/cancel while it downloads; where it is and how to
 * use it once downloaded).
 */
import { Clipboard } from '@jupyterlab/apputils';
import { checkIcon, copyIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { checksumWords, shortPath, snippetsFor } from './advice';
import { formatBytes, formatEta, formatPercent, formatSpeed, fraction } from './format';
import { SidebarModel, SidebarState } from './model';
import { combinedProgress, fileJobs, isChecksumMismatch, Job, Model, ModelFile } from './state';

export function useModelState(model: SidebarModel): SidebarState {
  const [state, setState] = React.useState(model.state);
  React.useEffect(() => {
    const update = (): void => setState(model.state);
    model.changed.connect(update);
    update();
    return () => {
      model.changed.disconnect(update);
    };
  }, [model]);
  return state;
}

/** A clock for "time left" and "retrying in" texts; the data itself arrives by WebSocket. */
export function useNow(active: boolean): number {
  const [now, setNow] = React.useState(Date.now());
  React.useEffect(() => {
    if (!active) {
      return;
    }
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

export function ErrorLine({ message }: { message?: string | null }): JSX.Element | null {
  if (!message) {
    return null;
  }
  return (
    <div className="jp-ModelFiles-error" role="alert">
      {message}
    </div>
  );
}

/**
 * A search box in a form: Enter searches; emptying the box (typing or its ✕) goes back to
 * the unfiltered list at once.
 */
export function SearchForm({
  label,
  placeholder,
  active,
  onSearch,
  onText,
  children
}: {
  label: string;
  placeholder: string;
  /** The search the list currently shows. */
  active: string;
  onSearch: (text: string) => void;
  onText?: (text: string) => void;
  children?: React.ReactNode;
}): JSX.Element {
  const [text, setText] = React.useState(active);
  return (
    <form
      className="jp-ModelFiles-toolbar"
      onSubmit={ev => {
        ev.preventDefault();
        onSearch(text);
      }}
    >
      <input
        type="search"
        className="jp-ModelFiles-input"
        placeholder={placeholder}
        aria-label={label}
        value={text}
        onChange={ev => {
          setText(ev.target.value);
          onText?.(ev.target.value);
          if (!ev.target.value && active) {
            onSearch('');
          }
        }}
      />
      {children}
    </form>
  );
}

/** The transient notice with its dismiss button. */
export function Notice({ state, sidebar }: { state: SidebarState; sidebar: SidebarModel }): JSX.Element | null {
  if (!state.notice) {
    return null;
  }
  return (
    <div className="jp-ModelFiles-notice" role="status">
      <span>{state.notice}</span>
      <button className="jp-ModelFiles-iconbutton" aria-label="Dismiss notice" onClick={() => sidebar.dismissNotice()}>
        ✕
      </button>
    </div>
  );
}

export function ProgressBar({ value, label }: { value: number | null; label: string }): JSX.Element {
  const percent = value === null ? undefined : Math.round(value * 100);
  return (
    <div
      className="jp-ModelFiles-progress"
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={percent}
    >
      <div
        className={'jp-ModelFiles-progress-bar' + (value === null ? ' jp-ModelFiles-progress-indeterminate' : '')}
        style={{ width: value === null ? '100%' : `${(value * 100).toFixed(1)}%` }}
      />
    </div>
  );
}

export function Spinner({ label }: { label: string }): JSX.Element {
  return <span className="jp-ModelFiles-spinner" role="status" aria-label={label} title={label} />;
}

export function DoneMark({ label = 'downloaded' }: { label?: string }): JSX.Element {
  return (
    <span className="jp-ModelFiles-ok jp-ModelFiles-done" aria-label={label} title={label}>
      <checkIcon.react tag="span" elementSize="small" />
    </span>
  );
}

export function CopyButton({
  text,
  label,
  sidebar
}: {
  text: string;
  label: string;
  sidebar: SidebarModel;
}): JSX.Element {
  return (
    <button
      className="jp-ModelFiles-iconbutton"
      aria-label={label}
      title={label}
      onClick={() => {
        Clipboard.copyToSystem(text);
        sidebar.notify('Copied to the clipboard');
      }}
    >
      <copyIcon.react tag="span" elementSize="small" />
    </button>
  );
}

/** "12 MiB / 293 MiB 45%", speed, time left: the words under a bar. */
export function ProgressText({
  done,
  total,
  speed,
  eta,
  status,
  now,
  showStatus = true
}: {
  done: number;
  total: number | undefined;
  speed: number;
  eta: string | undefined;
  status: string;
  now: number;
  /** Off where the status is written next to the name already. */
  showStatus?: boolean;
}): JSX.Element {
  const value = status === 'completed' ? 1 : fraction(done, total);
  const running = status === 'downloading';
  const left = running ? formatEta(eta, now, total !== undefined ? total - done : undefined, speed) : '';
  return (
    <div className="jp-ModelFiles-jobinfo jp-ModelFiles-muted">
      <span>
        {formatBytes(done)} / {formatBytes(total)} {formatPercent(value)}
      </span>
      {running && speed > 0 ? <span>{formatSpeed(speed)}</span> : null}
      {left ? <span aria-label="time left">{left} left</span> : null}
      {!running && showStatus ? <span>{status}</span> : null}
    </div>
  );
}

/**
 * A model file's status and actions: Download; while downloading a bar with speed, time
 * left, pause/resume and cancel; once downloaded its local path (copy) and snippets to use it.
 */
export function FileState({
  model,
  file,
  state,
  sidebar,
  now,
  compact = false
}: {
  model: Model;
  file: ModelFile;
  state: SidebarState;
  sidebar: SidebarModel;
  now: number;
  /** In the narrow sidebar: the path shows its file name only. */
  compact?: boolean;
}): JSX.Element {
  const jobs = fileJobs(state.jobs, model.id, file);
  const live = jobs.filter(j => ['downloading', 'queued', 'paused', 'verifying'].includes(j.status));
  const progress = combinedProgress(live.length ? live : jobs);
  const busy = !!state.busy[`model:${model.id}`];
  const name = file.name;
  const act = (action: 'pause' | 'resume' | 'cancel', list: Job[]): void => {
    for (const job of list) {
      void sidebar.jobAction(job.job_id, action);
    }
  };
  if (live.length && progress) {
    const value = fraction(progress.done, progress.total);
    const paused = progress.status === 'paused';
    return (
      <div className="jp-ModelFiles-filestate" data-state={progress.status}>
        <ProgressBar value={value} label={`Progress of ${name}`} />
        <div className="jp-ModelFiles-filestate-line">
          <ProgressText {...progress} now={now} />
          <span className="jp-ModelFiles-actions">
            {paused ? (
              <button aria-label={`Resume ${name}`} onClick={() => act('resume', live)}>
                Resume
              </button>
            ) : (
              <button aria-label={`Pause ${name}`} onClick={() => act('pause', live)}>
                Pause
              </button>
            )}
            <button aria-label={`Cancel ${name}`} onClick={() => act('cancel', live)}>
              Cancel
            </button>
          </span>
        </div>
      </div>
    );
  }
  if (file.isDownloaded) {
    const path = file.downloadStatus?.localPath;
    const snippets = snippetsFor({
      modelId: model.id,
      file: file.id || name,
      path,
      source: model.source,
      format: file.format || model.format
    });
    return (
      <div className="jp-ModelFiles-filestate" data-state="downloaded">
        <div className="jp-ModelFiles-filestate-line">
          <DoneMark />
          {path ? (
            <>
              <code className="jp-ModelFiles-path" title={path}>
                {shortPath(path, compact ? 1 : 3)}
              </code>
              <CopyButton text={path} label={`Copy the path of ${name}`} sidebar={sidebar} />
            </>
          ) : (
            <span>downloaded</span>
          )}
        </div>
        <details className="jp-ModelFiles-snippets">
          <summary>Use it</summary>
          {snippets.map(snippet => (
            <div key={snippet.label} className="jp-ModelFiles-snippet">
              <div className="jp-ModelFiles-filestate-line">
                <span className="jp-ModelFiles-muted">{snippet.label}</span>
                <CopyButton text={snippet.code} label={`Copy ${snippet.label} snippet`} sidebar={sidebar} />
              </div>
              <pre>{snippet.code}</pre>
            </div>
          ))}
        </details>
      </div>
    );
  }
  const failed = jobs.find(j => j.status === 'failed');
  return (
    <div className="jp-ModelFiles-filestate" data-state={failed ? 'failed' : 'absent'}>
      {failed ? <ErrorLine message={isChecksumMismatch(failed) ? checksumWords(true) : failed.error} /> : null}
      <div className="jp-ModelFiles-filestate-line">
        {failed && isChecksumMismatch(failed) ? (
          <button aria-label={`Re-read the catalog for ${name}`} onClick={() => void sidebar.rereadCatalog(model.id)}>
            Re-read catalog
          </button>
        ) : (
          <button
            disabled={busy}
            aria-label={`Download ${name}`}
            onClick={() => void sidebar.downloadModel(model.id, [file.id])}
          >
            {failed ? 'Retry' : 'Download'}
          </button>
        )}
      </div>
    </div>
  );
}
