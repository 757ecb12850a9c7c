/**
 * A browser, as far as the HTTP suite needs one: a cookie jar, redirects
 * followed by hand (so each hop can be inspected), and a sign-in through
 * Auth.js's own endpoints with a local account (what the sign-in page's
 * form does, minus the page).
 */
export interface Hop {
  status: number;
  url: string;
  location?: string;
  body: string;
}

export class TestBrowser {
  private readonly cookies = new Map<string, string>();

  constructor(readonly base: string) {}

  private remember(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(c) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** One request, no redirect followed; cookies for our own origin only. */
  async request(url: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Hop> {
    const own = url.startsWith(this.base);
    const res = await fetch(url, {
      method: init.method ?? 'GET',
      redirect: 'manual',
      body: init.body,
      headers: { ...(own && this.cookies.size ? { cookie: this.cookieHeader() } : {}), ...init.headers },
    });
    if (own) this.remember(res);
    const location = res.headers.get('location') ?? undefined;
    return { status: res.status, url, location: location === undefined ? undefined : new URL(location, url).href, body: await res.text() };
  }

  /**
   * Follows redirects while they stay on Kubegate's origin; returns every
   * hop, the last one being either a page or the redirect that leaves.
   */
  async follow(url: string, max = 10): Promise<Hop[]> {
    const hops: Hop[] = [];
    let next: string | undefined = url;
    while (next && hops.length < max) {
      const hop = await this.request(next);
      hops.push(hop);
      next = hop.location && hop.status >= 300 && hop.status < 400 && hop.location.startsWith(this.base) ? hop.location : undefined;
    }
    return hops;
  }

  /** Signs in with a local account through Auth.js (CSRF double-submit, then the credentials callback). */
  async signIn(username: string, password: string, upstream = 'local'): Promise<void> {
    const csrf = await this.request(`${this.base}/api/auth/csrf`);
    const { csrfToken } = JSON.parse(csrf.body) as { csrfToken: string };
    const res = await this.request(`${this.base}/api/auth/callback/${upstream}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrfToken, username, password, callbackUrl: `${this.base}/` }).toString(),
    });
    if (res.status !== 302 || ![...this.cookies.keys()].some((k) => k.includes('session-token'))) {
      throw new Error(`sign-in as ${username} failed: ${res.status} ${res.location ?? ''} ${res.body.slice(0, 200)}`);
    }
  }
}
