/**
 * Base64 of the UTF-8 bytes of `text`, as kubeconfig `*-data` fields expect
 * (standard alphabet, padded: kubectl decodes with base64.StdEncoding).
 * Uses TextEncoder + btoa rather than Buffer so the module also runs in a browser.
 */
export function base64Utf8(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
