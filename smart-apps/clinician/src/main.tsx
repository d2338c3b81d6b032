import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import '../../shared/src/ui/base.css';
import { LaunchGate } from '../../shared/src/ui/LaunchGate.tsx';
import { ClinicianApp, NotLaunched } from './App.tsx';
import './clinician.css';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <LaunchGate
      appPath="/apps/clinician/"
      signedOut={({ ended }) => <NotLaunched ended={ended} />}
      endedView={() => (
        <p className="notice notice-error">
          Your session has ended. Relaunch from the chart: drafts were saved to Haven as you typed, and what is on this screen stays here.
        </p>
      )}
    >
      {(config) => <ClinicianApp config={config} />}
    </LaunchGate>
  </StrictMode>,
);
