/**
 * Loads data for a screen and keeps loading, error and data apart, so no screen goes blank: a 403 (scope not
 * granted) becomes `forbidden` (the feature hides itself), an ended session is reported to the app once.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { FhirError } from '../fhir-client.ts';
import { LaunchError } from '../smart-client.ts';
import { useLaunch } from './app-context.tsx';

/** State of one load. */
export interface Loaded<T> {
  data?: T;
  /** A message fit to show. */
  error?: string;
  /** The server refused this for the granted scopes. */
  forbidden: boolean;
  loading: boolean;
  reload(): void;
}

/** A message for any error a request may throw. */
export function errorMessage(err: unknown): string {
  if (err instanceof FhirError || err instanceof LaunchError) return err.message;
  return 'Something went wrong. Try again.';
}

/** Runs `load` when `key` changes (and on reload). */
export function useLoad<T>(load: () => Promise<T>, key: string): Loaded<T> {
  const { sessionEnded } = useLaunch();
  const [state, setState] = useState<{ data?: T; error?: string; forbidden: boolean; loading: boolean }>({
    loading: true,
    forbidden: false,
  });
  const [round, setRound] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  // `key` names what is loaded; `round` forces a reload.
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    loadRef.current().then(
      (data) => live && setState({ data, loading: false, forbidden: false }),
      (err: unknown) => {
        if (!live) return;
        if (err instanceof LaunchError && err.code === 'session_expired') sessionEnded();
        const forbidden = err instanceof FhirError && err.forbidden;
        setState({ error: errorMessage(err), forbidden, loading: false });
      },
    );
    return () => {
      live = false;
    };
  }, [key, round, sessionEnded]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  return { ...state, reload };
}
