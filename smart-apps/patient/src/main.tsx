import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import '../../shared/src/ui/base.css';
import { LaunchGate } from '../../shared/src/ui/LaunchGate.tsx';
import { Ended, PatientApp, SignedOut } from './App.tsx';
import './patient.css';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <LaunchGate
      appPath="/apps/patient/"
      signedOut={(p) => <SignedOut {...p} />}
      endedView={(config, env) => <Ended config={config} env={env} />}
    >
      {(config) => <PatientApp config={config} />}
    </LaunchGate>
  </StrictMode>,
);
