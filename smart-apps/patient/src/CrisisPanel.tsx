/**
 * The crisis panel shown on every screen of the patient app (text and facts in crisis.ts). Compact by default,
 * so it stays on screen on a phone: call or text 988 and call 911 are one tap away, the full message (Veterans
 * line, Spanish, chat) one more. With `emphasis` (after a positive safety answer, after sending an assessment)
 * everything is shown at once.
 */
import { CRISIS_ACTIONS, crisisMessage } from './crisis.ts';

export function CrisisPanel({ configured, emphasis = false }: { configured?: string; emphasis?: boolean }) {
  const actions = emphasis ? CRISIS_ACTIONS : CRISIS_ACTIONS.filter((a) => a.href.startsWith('tel:') || a.href.startsWith('sms:'));
  const message = <p className="crisis-message">{crisisMessage(configured)}</p>;
  return (
    <aside className={`crisis${emphasis ? ' crisis-emphasis' : ''}`} aria-label="Crisis help">
      <div className="crisis-row">
        <h2 className="crisis-title">Need help now?</h2>
        <ul className="crisis-actions">
          {actions.map((a) => (
            <li key={a.href}>
              <a
                className="crisis-action"
                href={a.href}
                {...(a.detail ? { title: a.detail } : {})}
                {...(a.href.startsWith('https:') ? { target: '_blank', rel: 'noopener noreferrer' } : {})}
              >
                {a.label}
              </a>
            </li>
          ))}
        </ul>
      </div>
      {emphasis ? (
        message
      ) : (
        <details className="crisis-more">
          <summary>More ways to get help (chat, Veterans, Spanish)</summary>
          {message}
          <p>
            <a href="https://988lifeline.org/" target="_blank" rel="noopener noreferrer">
              Chat at 988lifeline.org
            </a>
          </p>
        </details>
      )}
    </aside>
  );
}
