import type { TestApp } from './harness.js';

/** A browser's cookie jar, just enough for form posts through app.inject, from a client address of its choosing. */
export class Browserish {
  readonly cookies = new Map<string, string>();
  lastSetCookies: string[] = [];

  constructor(
    private readonly t: TestApp,
    private readonly options: { ip?: string; userAgent?: string } = {},
  ) {}

  async get(url: string) {
    return this.send('GET', url);
  }

  async post(url: string, form: Record<string, string>) {
    return this.send('POST', url, new URLSearchParams(form).toString());
  }

  /** Gets the page and posts its form back with its CSRF token and these fields. */
  async submit(pageUrl: string, form: Record<string, string>, actionUrl = pageUrl) {
    const page = await this.get(pageUrl);
    return this.post(actionUrl, { _csrf: Browserish.csrfOf(page.body), ...form });
  }

  /** The CSRF token of the page's first form. */
  static csrfOf(html: string): string {
    const match = /name="_csrf" value="([^"]+)"/.exec(html);
    if (!match) throw new Error('no CSRF token on the page');
    return match[1];
  }

  private async send(method: 'GET' | 'POST', url: string, payload?: string) {
    const headers: Record<string, string> = {};
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (payload !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    if (this.options.userAgent) headers['user-agent'] = this.options.userAgent;
    const response = await this.t.app.inject({ method, url, headers, payload, ...(this.options.ip ? { remoteAddress: this.options.ip } : {}) });
    const set = response.headers['set-cookie'];
    this.lastSetCookies = set === undefined ? [] : Array.isArray(set) ? set : [set];
    for (const line of this.lastSetCookies) {
      const [pair] = line.split(';');
      const [name, ...rest] = pair.split('=');
      const value = rest.join('=');
      if (value === '' || /Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name.trim());
      else this.cookies.set(name.trim(), value);
    }
    return response;
  }
}
