/**
 * Which screen of an app is shown, kept in the URL (`?session=…&view=scores`) so Back, reload and bookmarks
 * work and the launch id stays in the URL. Moving to a screen puts focus on its heading (for screen readers
 * and keyboard users, as a page load would).
 */
import { useCallback, useEffect, useState } from 'react';

function current<V extends string>(views: readonly V[], fallback: V): V {
  const v = new URLSearchParams(window.location.search).get('view');
  return (views as readonly string[]).includes(v ?? '') ? (v as V) : fallback;
}

/** The current view and a way to go to another. */
export function useView<V extends string>(views: readonly V[], fallback: V): [V, (v: V) => void] {
  const [view, setView] = useState<V>(() => current(views, fallback));
  useEffect(() => {
    const onPop = () => setView(current(views, fallback));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, [views, fallback]);
  const go = useCallback((v: V) => {
    const url = new URL(window.location.href);
    url.searchParams.set('view', v);
    window.history.pushState(null, '', url);
    setView(v);
    requestAnimationFrame(() => document.getElementById('view-title')?.focus());
  }, []);
  return [view, go];
}

/** A link that keeps the launch id and changes the view. */
export function viewHref(view: string): string {
  const url = new URL(window.location.href);
  url.searchParams.set('view', view);
  return `${url.pathname}${url.search}`;
}
