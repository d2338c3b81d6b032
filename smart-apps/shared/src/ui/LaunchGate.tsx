/**
 * Starts an app from its URL (boot.ts) and renders it inside its launch: while starting a status line, on a
 * redirect nothing (the browser is leaving), when signed out or ended what the app says to do, on an error a
 * message that says what to do next. Never a blank screen.
 */
import { type ReactNode, useCallback, useEffect, useMemo, useState } from 'react';
import type { AppConfig } from '../../../registry.ts';
import { boot, issuerTrust, loadAppConfig, sessionUrl, type BootResult } from '../boot.ts';
import { FhirClient } from '../fhir-client.ts';
import { browserStore } from '../launch-store.ts';
import { parseScopes } from '../scopes.ts';
import { SessionTokens, type SmartEnv, type SmartSession } from '../smart-client.ts';
import { LaunchContext, type AppLaunch } from './app-context.tsx';
import { ErrorNotice, Loading } from './Notice.tsx';

/** What the app renders when nobody is signed in (or the session ended). */
export type SignedOutView = (props: { config: AppConfig; env: SmartEnv; ended: boolean; iss?: string }) => ReactNode;

/** Props of {@link LaunchGate}. */
export interface LaunchGateProps {
  /** The app's path, e.g. `/apps/patient/`. */
  appPath: string;
  signedOut: SignedOutView;
  /** What to say when the session ends while the app is open (drafts are already on the server). */
  endedView: (config: AppConfig, env: SmartEnv) => ReactNode;
  children: (config: AppConfig) => ReactNode;
}

/**
 * One start per page URL: a callback's code can be exchanged once, and effects may run twice (React StrictMode in
 * development, a remount), so a second start of the same URL shares the first one's result.
 */
const starts = new Map<string, Promise<BootResult>>();
function bootOnce(href: string, start: () => Promise<BootResult>): Promise<BootResult> {
  let p = starts.get(href);
  if (!p) {
    p = start();
    starts.set(href, p);
  }
  return p;
}

type State = { kind: 'starting' } | { kind: 'config-error'; message: string } | { kind: 'booted'; config: AppConfig; result: BootResult };

function InLaunch({ session, env, children, onEnded }: { session: SmartSession; env: SmartEnv; children: ReactNode; onEnded: () => void }) {
  const launch = useMemo<AppLaunch>(() => {
    const tokens = new SessionTokens(session, env);
    return { fhir: new FhirClient(session.iss, tokens), session, granted: parseScopes(session.scope), sessionEnded: onEnded };
  }, [session, env, onEnded]);
  return <LaunchContext.Provider value={launch}>{children}</LaunchContext.Provider>;
}

/** The gate. */
export function LaunchGate(props: LaunchGateProps) {
  const { appPath } = props;
  const [state, setState] = useState<State>({ kind: 'starting' });
  const [ended, setEnded] = useState(false);
  const env = useMemo<SmartEnv>(() => ({ store: browserStore() }), []);

  useEffect(() => {
    let live = true;
    (async () => {
      let config: AppConfig;
      try {
        config = await loadAppConfig(appPath);
      } catch {
        if (live) setState({ kind: 'config-error', message: 'The app could not read its settings from the server. Reload to try again.' });
        return;
      }
      const result = await bootOnce(window.location.href, () =>
        boot(window.location.href, appPath, config, { ...env, trustIssuer: issuerTrust(config) }),
      );
      if (!live) return;
      if (result.kind === 'redirect') {
        window.location.assign(result.url);
        return;
      }
      // After the callback, show the app's own URL with the launch id (a reload then keeps this launch).
      if (result.kind === 'session') window.history.replaceState(null, '', sessionUrl(appPath, result.session.id));
      setState({ kind: 'booted', config, result });
    })();
    return () => {
      live = false;
    };
  }, [appPath, env]);

  const onEnded = useCallback(() => setEnded(true), []);

  if (state.kind === 'starting') return <Loading what="the app" />;
  if (state.kind === 'config-error') return <ErrorNotice message={state.message} onRetry={() => window.location.reload()} />;
  const { config, result } = state;
  switch (result.kind) {
    case 'redirect':
      return <Loading what="sign-in" />;
    case 'error':
      return (
        <main className="page-narrow">
          <h1>The app could not start</h1>
          <ErrorNotice message={result.message} />
          {props.signedOut({ config, env, ended: false })}
        </main>
      );
    case 'signed-out':
      return props.signedOut({ config, env, ended: !!result.ended, ...(result.iss ? { iss: result.iss } : {}) });
    case 'session':
      return (
        <InLaunch session={result.session} env={env} onEnded={onEnded}>
          {ended && (
            <div className="session-ended" role="alert">
              {props.endedView(config, env)}
            </div>
          )}
          {props.children(config)}
        </InLaunch>
      );
    default:
      return result satisfies never;
  }
}
