/**
 * Secure messages with the care team (Communication). The message box keeps its text until the message is
 * stored, so a failed send loses nothing. Not for emergencies, and it says so next to the box.
 */
import { type FormEvent, useId, useState } from 'react';
import type { Resource } from '../../../shared/src/fhir-client.ts';
import { useLaunch } from '../../../shared/src/ui/app-context.tsx';
import { ErrorNotice, InfoNotice, Loading } from '../../../shared/src/ui/Notice.tsx';
import { errorMessage, useLoad } from '../../../shared/src/ui/use-load.ts';
import { careTeamRecipients, loadMessages, newMessage, type Ref } from '../data.ts';

function body(c: Resource): string {
  return ((c.payload as { contentString?: string }[] | undefined) ?? [])
    .map((p) => p.contentString)
    .filter(Boolean)
    .join('\n');
}

export function Messages() {
  const { fhir, session } = useLaunch();
  const patient = session.patient!;
  const list = useLoad(() => loadMessages(fhir, patient), `messages:${patient}`);
  const [draft, setDraft] = useState('');
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const boxId = useId();

  const send = async (e: FormEvent) => {
    e.preventDefault();
    const text = draft.trim();
    if (!text) return setError('Write a message first.');
    setSending(true);
    setError(undefined);
    setNotice(undefined);
    try {
      const to: Ref[] = await careTeamRecipients(fhir, patient);
      if (!to.length) throw new Error('no-recipient');
      await fhir.create(newMessage(patient, to, text));
      setDraft('');
      setNotice('Message sent.');
      list.reload();
    } catch (err) {
      setError(
        (err as Error).message === 'no-recipient'
          ? 'We could not find your care team to send this to. Please call the clinic.'
          : `Your message was not sent: ${errorMessage(err)}`,
      );
    } finally {
      setSending(false);
    }
  };

  return (
    <div>
      <form onSubmit={send} className="message-form">
        <label htmlFor={boxId}>Message to your care team</label>
        <p className="muted" id={`${boxId}-hint`}>
          Messages are read during clinic hours. Do not use messages for emergencies: call or text 988, or call 911.
        </p>
        <textarea
          id={boxId}
          aria-describedby={`${boxId}-hint`}
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          rows={4}
          maxLength={4000}
        />
        {error && <ErrorNotice message={error} />}
        {notice && (
          <p role="status" className="notice notice-success">
            {notice}
          </p>
        )}
        <button type="submit" className="primary" disabled={sending}>
          {sending ? 'Sending…' : 'Send message'}
        </button>
      </form>
      <h2>Messages</h2>
      {list.loading && !list.data && <Loading what="messages" />}
      {list.error && <ErrorNotice message={list.error} onRetry={list.reload} />}
      {list.data?.length === 0 && <InfoNotice>No messages yet.</InfoNotice>}
      <ol className="messages">
        {list.data?.map((c) => {
          const mine = (c.sender as Ref | undefined)?.reference === `Patient/${patient}`;
          return (
            <li key={c.id} className={`message${mine ? ' message-mine' : ''}`}>
              <p className="message-meta">
                {mine ? 'You' : c.sender ? ((c.sender as Ref).display ?? 'Your care team') : 'Haven (automatic message)'}
                {typeof c.sent === 'string' &&
                  ` · ${new Date(c.sent).toLocaleString('en-US', { dateStyle: 'medium', timeStyle: 'short' })}`}
              </p>
              <p className="message-body">{body(c)}</p>
            </li>
          );
        })}
      </ol>
    </div>
  );
}
