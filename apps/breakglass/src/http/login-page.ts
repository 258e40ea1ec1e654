/** The only page served without credentials: self-contained (no assets), no state revealed. */
export const LOGIN_PAGE = (message?: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta name="theme-color" content="#14110f"><meta name="robots" content="noindex">
<title>breakglass — sign in</title>
<style>
  :root { color-scheme: dark; }
  body { margin: 0; min-height: 100dvh; display: grid; place-items: center; background: #14110f; color: #f3ede6;
    font: 16px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; padding: env(safe-area-inset-top) 16px env(safe-area-inset-bottom); }
  form { width: min(100%, 360px); display: grid; gap: 12px; }
  h1 { font-size: 20px; margin: 0 0 4px; letter-spacing: .02em; }
  label { font-size: 14px; color: #cfc5ba; }
  input { font-size: 16px; min-height: 48px; padding: 0 12px; border-radius: 10px; border: 1px solid #5b5048; background: #1f1a17; color: #f3ede6; }
  button { min-height: 48px; border-radius: 10px; border: 0; background: #ffb020; color: #1a1200; font-size: 16px; font-weight: 700; }
  p { margin: 0; color: #ffb4a8; }
</style></head>
<body><main><form method="post" action="/login">
<h1>breakglass</h1>
${message ? `<p role="alert">${message.replace(/[<>&"]/g, '')}</p>` : ''}
<label for="token">Access token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form></main></body></html>`;
