import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import '../../shared/src/ui/base.css';
import { LaunchGate } from '../../shared/src/ui/LaunchGate.tsx';
import { Launcher, SignedOut } from './App.tsx';
import './launcher.css';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <LaunchGate
      appPath="/launcher/"
      signedOut={(p) => <SignedOut {...p} />}
      endedView={() => <p>Your session ended. Reload to sign in again.</p>}
    >
      {(config) => <Launcher config={config} />}
    </LaunchGate>
  </StrictMode>,
);
