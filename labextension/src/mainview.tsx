/**
 * The main-area "Model files" view: a wide, sortable and filterable table of the catalog
 * (full names, provider, format, quantizations, parameters, context length, size, RAM against
 * the machine's free memory, state). A model's row opens onto its files, each with progress on
 * its own row while it downloads and its path and snippets once downloaded.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { Fit, fitOf } from './advice';
import { ErrorLine, FileState, Notice, SearchForm, useModelState, useNow } from './components';
import { formatBytes } from './format';
import { SidebarModel, SidebarState } from './model';
import { ModelActions, ModelBadges } from './panel';
import { Model } from './state';

type SortKey = 'name' | 'provider' | 'format' | 'parameters' | 'context' | 'size' | 'ram' | 'state';
type StateFilter = '' | 'downloaded' | 'downloading' | 'loaded' | 'not-downloaded';

interface Column {
  key: SortKey;
  label: string;
  numeric?: boolean;
}

const COLUMNS: Column[] = [
  { key: 'name', label: 'Model' },
  { key: 'provider', label: 'Provider' },
  { key: 'format', label: 'Format' },
  { key: 'parameters', label: 'Params', numeric: true },
  { key: 'context', label: 'Context', numeric: true },
  { key: 'size', label: 'Size', numeric: true },
  { key: 'ram', label: 'RAM', numeric: true },
  { key: 'state', label: 'State' }
];

/** The model's publisher as a person reads it (the org of an `org/name` id otherwise). */
export function providerOf(model: Model): string {
  const org = model.organization_name;
  if (typeof org === 'string' && org) {
    return org;
  }
  if (model.provider && model.provider !== 'UNKNOWN') {
    return model.provider === 'HUGGING_FACE' && model.id.includes('/')
      ? model.id.split('/')[0]
      : String(model.provider);
  }
  return model.id.includes('/') ? model.id.split('/')[0] : '';
}

/** The distinct quantizations of a model's files. */
export function quantizationsOf(model: Model): string[] {
  const files = Array.isArray(model.files) ? (model.files as Array<{ quantization?: string }>) : [];
  const found = files.map(f => f.quantization).filter((q): q is string => !!q && q !== 'unknown');
  if (!found.length && model.quantization) {
    found.push(model.quantization);
  }
  return [...new Set(found)];
}

function stateRank(model: Model): number {
  return model.loaded ? 3 : model.downloading ? 2 : model.downloaded ? 1 : 0;
}

function sortValue(model: Model, key: SortKey): string | number {
  switch (key) {
    case 'name':
      return (model.name || model.id).toLowerCase();
    case 'provider':
      return providerOf(model).toLowerCase();
    case 'format':
      return String(model.format ?? '');
    case 'parameters':
      return model.parameters ?? -1;
    case 'context':
      return typeof model.context_length === 'number' ? model.context_length : -1;
    case 'size':
      return model.bytes?.value ?? -1;
    case 'ram':
      return model.ram?.value ?? -1;
    case 'state':
      return stateRank(model);
  }
}

/** Filter by words (name, id, provider, format, quantizations) and by state; then sort. */
export function visibleModels(
  models: Model[],
  words: string,
  stateFilter: StateFilter,
  sort: { key: SortKey; ascending: boolean }
): Model[] {
  const terms = words.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = models.filter(model => {
    const text = [model.name, model.id, providerOf(model), model.format, ...quantizationsOf(model)]
      .join(' ')
      .toLowerCase();
    if (!terms.every(term => text.includes(term))) {
      return false;
    }
    switch (stateFilter) {
      case 'downloaded':
        return !!model.downloaded;
      case 'downloading':
        return !!model.downloading;
      case 'loaded':
        return !!model.loaded;
      case 'not-downloaded':
        return !model.downloaded;
      default:
        return true;
    }
  });
  const sign = sort.ascending ? 1 : -1;
  return shown.sort((a, b) => {
    const x = sortValue(a, sort.key);
    const y = sortValue(b, sort.key);
    return (x < y ? -1 : x > y ? 1 : 0) * sign;
  });
}

function FitBadge({ fit }: { fit: Fit | null }): JSX.Element | null {
  if (!fit) {
    return null;
  }
  const titles: Record<Fit, string> = {
    fits: 'fits in the free memory',
    tight: 'about as much as the free memory: other programs may have to give way',
    'too big': 'more than the free memory (or the RAM budget)'
  };
  return (
    <span className={`jp-ModelFiles-fit jp-ModelFiles-fit-${fit.replace(' ', '-')}`} title={titles[fit]}>
      {fit}
    </span>
  );
}

function ModelFilesTable({
  model,
  state,
  sidebar,
  now
}: {
  model: Model;
  state: SidebarState;
  sidebar: SidebarModel;
  now: number;
}): JSX.Element {
  const entry = state.modelFiles[model.id];
  if (!entry || (entry.loading && !entry.files.length)) {
    return <div className="jp-ModelFiles-muted">Loading files…</div>;
  }
  if (entry.error) {
    return <ErrorLine message={entry.error} />;
  }
  if (!entry.files.length) {
    return <div className="jp-ModelFiles-muted">No files listed.</div>;
  }
  return (
    <table className="jp-ModelFiles-table jp-ModelFiles-filetable" aria-label={`Files of ${model.name || model.id}`}>
      <thead>
        <tr>
          <th>File</th>
          <th>Quant.</th>
          <th>Format</th>
          <th className="jp-ModelFiles-num">Size</th>
          <th className="jp-ModelFiles-num">RAM</th>
          <th>State</th>
        </tr>
      </thead>
      <tbody>
        {entry.files.map(file => (
          <tr key={file.id} className="jp-ModelFiles-modelfile" data-file-id={file.id}>
            <td className="jp-ModelFiles-fullname">{file.name}</td>
            <td>{file.quantization && file.quantization !== 'unknown' ? file.quantization : ''}</td>
            <td>{file.format || ''}</td>
            <td className="jp-ModelFiles-num">{formatBytes(file.sizeBytes)}</td>
            <td className="jp-ModelFiles-num">
              {file.maxRamUsage ? formatBytes(file.maxRamUsage) : ''}{' '}
              <FitBadge fit={fitOf(file.maxRamUsage, state.memory)} />
            </td>
            <td className="jp-ModelFiles-statecell">
              <FileState model={model} file={file} state={state} sidebar={sidebar} now={now} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ModelTableRow({
  model,
  state,
  sidebar,
  now,
  open,
  toggle
}: {
  model: Model;
  state: SidebarState;
  sidebar: SidebarModel;
  now: number;
  open: boolean;
  toggle: () => void;
}): JSX.Element {
  const title = model.name || model.id;
  const quants = quantizationsOf(model);
  return (
    <>
      <tr className="jp-ModelFiles-modelrow" data-model-id={model.id} aria-expanded={open}>
        <td className="jp-ModelFiles-fullname">
          <div className="jp-ModelFiles-namecell">
            <button
              className="jp-ModelFiles-expand"
              aria-label={`${open ? 'Collapse' : 'Expand'} ${title}`}
              onClick={toggle}
            >
              {open ? '▾' : '▸'}
            </button>
            <span>
              <span className="jp-ModelFiles-modelname">{title}</span>
              {title !== model.id ? (
                <span className="jp-ModelFiles-muted jp-ModelFiles-modelid">{model.id}</span>
              ) : null}
            </span>
          </div>
        </td>
        <td>{providerOf(model)}</td>
        <td>
          {model.format ?? ''}
          {quants.length ? <div className="jp-ModelFiles-muted">{quants.join(', ')}</div> : null}
        </td>
        <td className="jp-ModelFiles-num">{model.parameters ? `${model.parameters} B` : ''}</td>
        <td className="jp-ModelFiles-num">
          {typeof model.context_length === 'number' ? model.context_length.toLocaleString('en-US') : ''}
        </td>
        <td className="jp-ModelFiles-num">{model.bytes?.value ? formatBytes(model.bytes.value) : ''}</td>
        <td className="jp-ModelFiles-num">
          {model.ram?.value ? formatBytes(model.ram.value) : ''}{' '}
          <FitBadge fit={fitOf(model.ram?.value, state.memory)} />
        </td>
        <td>
          {model.downloaded || model.downloading || model.loaded ? null : (
            <span className="jp-ModelFiles-muted">not downloaded</span>
          )}
          <ModelBadges model={model} state={state} />
          <ModelActions model={model} state={state} sidebar={sidebar} />
          <ErrorLine message={state.loadErrors[model.id]} />
        </td>
      </tr>
      {open ? (
        <tr className="jp-ModelFiles-filesrow">
          <td colSpan={COLUMNS.length}>
            <ModelFilesTable model={model} state={state} sidebar={sidebar} now={now} />
          </td>
        </tr>
      ) : null}
    </>
  );
}

function MainView({ sidebar }: { sidebar: SidebarModel }): JSX.Element {
  const state = useModelState(sidebar);
  const [words, setWords] = React.useState('');
  const [stateFilter, setStateFilter] = React.useState<StateFilter>('');
  const [sort, setSort] = React.useState<{ key: SortKey; ascending: boolean }>({ key: 'name', ascending: true });
  const [open, setOpen] = React.useState<Record<string, boolean>>({});
  const now = useNow(state.jobs.downloading.length > 0);
  React.useEffect(() => {
    void sidebar.loadCatalog('');
  }, [sidebar]);
  const rows = visibleModels(state.catalog, words, stateFilter, sort);
  const toggle = (model: Model): void => {
    const next = { ...open, [model.id]: !open[model.id] };
    setOpen(next);
    if (next[model.id]) {
      void sidebar.fetchModelFiles(model.id);
    }
  };
  const memory = state.memory;
  return (
    <div className="jp-ModelFiles-main">
      <header className="jp-ModelFiles-mainheader">
        <h2>Model files</h2>
        {memory ? (
          <span className="jp-ModelFiles-muted" aria-label="memory">
            {formatBytes(memory.available_bytes)} free of {formatBytes(memory.total_bytes)} memory
          </span>
        ) : null}
      </header>
      <Notice state={state} sidebar={sidebar} />
      <SearchForm
        label="Filter models"
        placeholder="Filter by name, provider, format, quantization (Enter also searches the Hub)"
        active={state.catalogSearch}
        onSearch={text => void sidebar.loadCatalog(text)}
        onText={setWords}
      >
        <select
          aria-label="Filter by state"
          value={stateFilter}
          onChange={ev => setStateFilter(ev.target.value as StateFilter)}
        >
          <option value="">any state</option>
          <option value="downloaded">downloaded</option>
          <option value="not-downloaded">not downloaded</option>
          <option value="downloading">downloading</option>
          <option value="loaded">loaded</option>
        </select>
        <button type="submit">Search</button>
      </SearchForm>
      <ErrorLine message={state.errors.models} />
      {state.catalogLoading && !state.catalog.length ? <div className="jp-ModelFiles-muted">Loading…</div> : null}
      <table className="jp-ModelFiles-table jp-ModelFiles-maintable" aria-label="Models">
        <thead>
          <tr>
            {COLUMNS.map(column => {
              const active = sort.key === column.key;
              return (
                <th
                  key={column.key}
                  className={column.numeric ? 'jp-ModelFiles-num' : undefined}
                  aria-sort={active ? (sort.ascending ? 'ascending' : 'descending') : 'none'}
                >
                  <button
                    className="jp-ModelFiles-sort"
                    aria-label={`Sort by ${column.label}`}
                    onClick={() => setSort({ key: column.key, ascending: active ? !sort.ascending : true })}
                  >
                    {column.label}
                    {active ? (sort.ascending ? ' ▲' : ' ▼') : ''}
                  </button>
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {rows.map(model => (
            <ModelTableRow
              key={model.id}
              model={model}
              state={state}
              sidebar={sidebar}
              now={now}
              open={!!open[model.id]}
              toggle={() => toggle(model)}
            />
          ))}
        </tbody>
      </table>
      {!state.catalogLoading && !rows.length ? (
        <div className="jp-ModelFiles-muted">
          {state.catalog.length ? 'No model matches the filters.' : 'No models.'}
        </div>
      ) : null}
    </div>
  );
}

/** The React content of the main-area view. */
export class ModelFilesView extends ReactWidget {
  constructor(readonly sidebar: SidebarModel) {
    super();
    this.addClass('jp-ModelFiles');
    this.addClass('jp-ModelFiles-mainview');
  }

  protected render(): JSX.Element {
    return <MainView sidebar={this.sidebar} />;
  }
}

/** A main-area tab holding the view. */
export function createMainView(sidebar: SidebarModel): MainAreaWidget<ModelFilesView> {
  const content = new ModelFilesView(sidebar);
  const widget = new MainAreaWidget({ content });
  widget.id = 'jp-modelfiles-main';
  widget.title.label = 'Model files';
  widget.title.caption = 'Model files: the catalog, downloads and loaded models';
  widget.title.closable = true;
  widget.toolbar.hide(); // the view has its own filter bar
  return widget;
}
