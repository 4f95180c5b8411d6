import {
  cookieValue,
  errorMessage,
  eventsUrl,
  joinUrl,
  requests,
  routes,
  resumeOffset,
  sliceSpans,
  uploadHeaders,
  validSha256,
  withQuery
} from '../api';

describe('routes', () => {
  it('encodes model ids that contain a slash', () => {
    expect(routes.modelFiles('org/name')).toBe('modelfiles/v1/models/org%2Fname/files');
    expect(routes.model('org/name')).toBe('modelfiles/v1/models/org%2Fname');
    expect(routes.modelDownload('TheBloke/Llama-2 7B')).toBe('modelfiles/v1/models/TheBloke%2FLlama-2%207B/download');
    expect(routes.modelDownloadCancel('a/b')).toBe('modelfiles/v1/models/a%2Fb/download/cancel');
    expect(routes.modelAction('a/b', 'load')).toBe('modelfiles/v1/models/a%2Fb/load');
    expect(routes.modelAction('a/b', 'unload')).toBe('modelfiles/v1/models/a%2Fb/unload');
  });

  it('builds the models search only when a search is given', () => {
    expect(routes.models()).toBe('modelfiles/v1/models');
    expect(routes.models('')).toBe('modelfiles/v1/models');
    expect(routes.models('llama 3&q')).toBe('modelfiles/v1/models?search=llama%203%26q');
  });

  it('builds the files listing with paging and filters, skipping empty values', () => {
    expect(routes.files()).toBe('modelfiles/v1/files');
    expect(routes.files({ page: 0, page_size: 20 })).toBe('modelfiles/v1/files?page=0&page_size=20');
    expect(routes.files({ page: 2, page_size: 10, search: 'a b', purpose: 'batch' })).toBe(
      'modelfiles/v1/files?page=2&page_size=10&search=a%20b&purpose=batch'
    );
    expect(routes.files({ search: '', purpose: undefined })).toBe('modelfiles/v1/files');
  });

  it('builds the file routes and job control routes', () => {
    expect(routes.file('file-1')).toBe('modelfiles/v1/files/file-1');
    expect(routes.fileContent('file-1')).toBe('modelfiles/v1/files/file-1/content');
    expect(routes.fileUrl('file-1')).toBe('modelfiles/v1/files/file-1/url?expiry=24');
    expect(routes.fileUrl('file-1', 2)).toBe('modelfiles/v1/files/file-1/url?expiry=2');
    expect(routes.jobAction('job_1', 'pause')).toBe('modelfiles/v1/downloads/job_1/pause');
    expect(routes.jobAction('job 2', 'resume')).toBe('modelfiles/v1/downloads/job%202/resume');
    expect(routes.downloadStatus()).toBe('modelfiles/v1/models/download/status');
    expect(routes.downloads()).toBe('modelfiles/v1/downloads');
  });
});

describe('requests', () => {
  it('sends the chosen files of a model download', () => {
    expect(requests.downloadModel('a/b', ['f1', 'f2'])).toEqual({
      method: 'POST',
      path: 'modelfiles/v1/models/a%2Fb/download',
      body: { files: ['f1', 'f2'] }
    });
    expect(requests.downloadModel('a/b').body).toEqual({});
  });

  it('trims the URL and drops an empty sha256', () => {
    expect(requests.startUrlDownload('  http://x/y.bin ', '')).toEqual({
      method: 'POST',
      path: 'modelfiles/v1/downloads',
      body: { url: 'http://x/y.bin' }
    });
    const digest = 'AB'.repeat(32);
    expect(requests.startUrlDownload('http://x/y', ` ${digest} `).body).toEqual({
      url: 'http://x/y',
      sha256: digest.toLowerCase()
    });
  });

  it('uses DELETE for files and POST for job actions', () => {
    expect(requests.deleteFile('f')).toEqual({ method: 'DELETE', path: 'modelfiles/v1/files/f' });
    expect(requests.jobAction('j', 'cancel')).toEqual({
      method: 'POST',
      path: 'modelfiles/v1/downloads/j/cancel'
    });
  });
});

describe('url helpers', () => {
  it('joins base URLs with and without a trailing slash', () => {
    expect(joinUrl('http://h/a%40b/', 'modelfiles/v1/files')).toBe('http://h/a%40b/modelfiles/v1/files');
    expect(joinUrl('http://h/a%40b', '/modelfiles/v1/files')).toBe('http://h/a%40b/modelfiles/v1/files');
  });

  it('keeps %2F in model ids intact when joining', () => {
    expect(joinUrl('http://h/', routes.modelFiles('a/b'))).toBe('http://h/modelfiles/v1/models/a%2Fb/files');
  });

  it('builds the events socket URL with an optional token', () => {
    expect(eventsUrl('ws://h/base/', '')).toBe('ws://h/base/modelfiles/v1/events');
    expect(eventsUrl('ws://h/base/', 't k')).toBe('ws://h/base/modelfiles/v1/events?token=t%20k');
  });

  it('encodes query values', () => {
    expect(withQuery('p', { a: 'x/y', b: 0, c: false, d: null })).toBe('p?a=x%2Fy&b=0&c=false');
  });
});

describe('errors and headers', () => {
  it('shows the server message of a JSON error', () => {
    expect(errorMessage(413, '{"error": {"code": "PAYLOAD_TOO_LARGE", "message": "file too large"}}')).toBe(
      'file too large'
    );
    expect(errorMessage(400, '{"message": "bad"}')).toBe('bad');
  });

  it('falls back to the status for HTML or empty bodies', () => {
    expect(errorMessage(502, '<html>bad gateway</html>')).toBe('HTTP 502');
    expect(errorMessage(500, '')).toBe('HTTP 500');
    expect(errorMessage(403, 'Forbidden')).toBe('HTTP 403: Forbidden');
  });

  it('reads the _xsrf cookie and builds the upload headers', () => {
    const cookies = 'a=1; _xsrf=2|abc%3D|x; username-h=xyz';
    expect(cookieValue(cookies, '_xsrf')).toBe('2|abc=|x');
    expect(cookieValue(cookies, 'missing')).toBeUndefined();
    expect(uploadHeaders('tok', cookies)).toEqual({
      Authorization: 'token tok',
      'X-XSRFToken': '2|abc=|x'
    });
    expect(uploadHeaders('', '')).toEqual({});
  });

  it('validates an optional sha256', () => {
    expect(validSha256('')).toBe(true);
    expect(validSha256('a'.repeat(64))).toBe(true);
    expect(validSha256('a'.repeat(63))).toBe(false);
    expect(validSha256('g'.repeat(64))).toBe(false);
  });
});

describe('sliced uploads', () => {
  it('cuts a file into slices of sliceBytes, the last one shorter', () => {
    expect(sliceSpans(10, 4)).toEqual([
      { start: 0, end: 4 },
      { start: 4, end: 8 },
      { start: 8, end: 10 }
    ]);
    expect(sliceSpans(8, 4)).toEqual([
      { start: 0, end: 4 },
      { start: 4, end: 8 }
    ]);
  });

  it('sends the whole file as one slice when it is not cut, and nothing for an empty file', () => {
    expect(sliceSpans(10, 0)).toEqual([{ start: 0, end: 10 }]);
    expect(sliceSpans(10, 10)).toEqual([{ start: 0, end: 10 }]);
    expect(sliceSpans(10, 64)).toEqual([{ start: 0, end: 10 }]);
    expect(sliceSpans(0, 4)).toEqual([]);
  });

  it('routes a slice at its offset, id encoded', () => {
    expect(routes.uploadSlice('upload-a/b', 1048576)).toBe('modelfiles/v1/uploads/upload-a%2Fb/slices?offset=1048576');
    expect(routes.uploadComplete('u1')).toBe('modelfiles/v1/uploads/u1/complete');
    expect(routes.uploads()).toBe('modelfiles/v1/uploads');
  });
});

describe('resumeOffset', () => {
  it('resumes a broken slice where the bytes kept from its start end', () => {
    expect(resumeOffset([], 0, 100)).toBe(0);
    expect(resumeOffset([[0, 40]], 0, 100)).toBe(40);
    expect(
      resumeOffset(
        [
          [0, 10],
          [50, 70]
        ],
        50,
        100
      )
    ).toBe(70);
    expect(
      resumeOffset(
        [
          [0, 10],
          [50, 70]
        ],
        20,
        50
      )
    ).toBe(20); // nothing of it arrived
    expect(resumeOffset([[0, 200]], 50, 100)).toBe(100); // all there: nothing to send
  });
});
