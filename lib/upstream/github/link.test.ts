import { describe, expect, it } from 'vitest';
import { LinkError, nextPageUrl } from './link';

const API = 'https://api.github.com';
const GHES = 'https://ghe.example.com/api/v3';

describe('nextPageUrl', () => {
  it('follows rel="next" among the other relations', () => {
    const h = `<${API}/user/teams?per_page=100&page=2>; rel="next", <${API}/user/teams?per_page=100&page=5>; rel="last"`;
    expect(nextPageUrl(h, API)).toBe(`${API}/user/teams?per_page=100&page=2`);
  });

  it('in any order, with a space-separated relation list or an unquoted rel', () => {
    expect(nextPageUrl(`<${API}/a?page=1>; rel="prev", <${API}/a?page=3>; rel=next`, API)).toBe(`${API}/a?page=3`);
    expect(nextPageUrl(`<${API}/a?page=3>; rel="last next"`, API)).toBe(`${API}/a?page=3`);
  });

  it('a comma inside the URL does not split the value', () => {
    expect(nextPageUrl(`<${API}/a?x=1,2&page=2>; rel="next"`, API)).toBe(`${API}/a?x=1,2&page=2`);
  });

  it('the last page (no next, or no header) ends the walk', () => {
    expect(nextPageUrl(null, API)).toBeUndefined();
    expect(nextPageUrl('', API)).toBeUndefined();
    expect(nextPageUrl(`<${API}/a?page=1>; rel="first", <${API}/a?page=4>; rel="prev"`, API)).toBeUndefined();
  });

  it('a GitHub Enterprise Server next page stays under /api/v3', () => {
    expect(nextPageUrl(`<${GHES}/user/orgs?page=2>; rel="next"`, GHES)).toBe(`${GHES}/user/orgs?page=2`);
  });

  it('a next page on another host, scheme or outside the API path is refused: the token would follow it', () => {
    for (const target of [
      'https://evil.example/user/teams?page=2',
      'http://api.github.com/user/teams?page=2',
      'https://api.github.com.evil.example/x',
      '//evil.example/x',
    ]) {
      expect(() => nextPageUrl(`<${target}>; rel="next"`, API), target).toThrow(LinkError);
    }
    expect(() => nextPageUrl('<https://ghe.example.com/other?page=2>; rel="next"', GHES)).toThrow(LinkError);
  });

  it('a relative next page resolves against the API', () => {
    expect(nextPageUrl('</api/v3/user/teams?page=2>; rel="next"', GHES)).toBe(`${GHES}/user/teams?page=2`);
  });
});
