/**
 * What every screen of an app needs: the FHIR client of this launch, the session, and a way to say the session
 * ended (the app then shows "relaunch" while keeping what the user typed: drafts are saved to Haven as typed).
 */
import { createContext, useContext } from 'react';
import type { FhirClient } from '../fhir-client.ts';
import type { GrantedScopes } from '../scopes.ts';
import type { SmartSession } from '../smart-client.ts';

/** The launch an app runs in. */
export interface AppLaunch {
  fhir: FhirClient;
  session: SmartSession;
  granted: GrantedScopes;
  /** Called when a request finds the session over (expired or revoked token that cannot be refreshed). */
  sessionEnded(): void;
}

export const LaunchContext = createContext<AppLaunch | undefined>(undefined);

/** The current launch; only used below a provider. */
export function useLaunch(): AppLaunch {
  const launch = useContext(LaunchContext);
  if (!launch) throw new Error('useLaunch outside a launch');
  return launch;
}
