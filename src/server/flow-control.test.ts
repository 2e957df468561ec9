import type { WebSocket } from 'ws';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FlowControl, type FlowPeer } from './flow-control.js';

interface Peer extends FlowPeer {
  id: string;
  /** The fake socket's state: whether it is open and whether reading is paused. */
  state: { open: boolean; paused: boolean };
}

function peer(id: string): Peer {
  const state = { open: true, paused: false };
  const socket = {
    OPEN: 1,
    get readyState() {
      return state.open ? 1 : 3;
    },
    pause: () => void (state.paused = true),
    resume: () => void (state.paused = false),
  };
  return { id, state, socket: socket as unknown as WebSocket, granted: null, delivering: null, pendingTask: null };
}

function setup(count: number): { flow: FlowControl<Peer>; peers: Peer[]; pulled: string[] } {
  const peers = Array.from({ length: count }, (_, i) => peer(`p${i}`));
  const pulled: string[] = [];
  const flow = new FlowControl<Peer>({ peers: () => peers, isCurrent: () => true, pull: (p, roundId) => pulled.push(`${p.id}:${roundId}`) });
  return { flow, peers, pulled };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('FlowControl', () => {
  it('pauses reading everywhere when 16 messages wait and resumes once 4 are left', () => {
    const { flow, peers } = setup(2);
    for (let i = 0; i < 15; i++) flow.received();
    expect(flow.paused).toBe(false);
    flow.received();
    expect(flow.paused).toBe(true);
    expect(peers.every((p) => p.state.paused)).toBe(true);
    for (let i = 0; i < 11; i++) flow.handled();
    expect(flow.paused).toBe(true);
    flow.handled();
    expect(flow.paused).toBe(false);
    expect(peers.some((p) => p.state.paused)).toBe(false);
  });

  it('writes 8 tasks at once, the next when a participant confirms, and never the same round twice', () => {
    const { flow, peers } = setup(10);
    const written: string[] = [];
    for (const p of peers) flow.deliverTask(p, 'r1', () => written.push(p.id));
    flow.deliverTask(peers[0], 'r1', () => written.push('again'));
    flow.deliverTask(peers[9], 'r1', () => written.push('again'));
    expect(written).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']);
    flow.delivered(peers[0], 'other round');
    expect(written).toHaveLength(8);
    flow.delivered(peers[0], 'r1');
    expect(written.at(-1)).toBe('p8');
    flow.forget(peers[1]);
    expect(written.at(-1)).toBe('p9');
  });

  it('frees a send slot the participant does not confirm within 30 seconds', () => {
    vi.useFakeTimers();
    const { flow, peers } = setup(9);
    const written: string[] = [];
    for (const p of peers) flow.deliverTask(p, 'r1', () => written.push(p.id));
    expect(written).toHaveLength(8);
    vi.advanceTimersByTime(30_000);
    expect(written.at(-1)).toBe('p8');
  });

  it('pulls 8 uploads at once, moves a waiting offer to its newest round, and skips closed connections', () => {
    const { flow, peers, pulled } = setup(11);
    for (const p of peers.slice(0, 10)) flow.requestUpload(p, 'r1');
    expect(pulled).toHaveLength(8);
    expect(flow.mayUpload(peers[0], 'r1')).toBe(true);
    expect(flow.mayUpload(peers[8], 'r1')).toBe(false);
    flow.requestUpload(peers[8], 'r2');
    peers[9].state.open = false;
    flow.requestUpload(peers[10], 'r1');
    flow.releaseUpload(peers[0]);
    expect(pulled.slice(8)).toEqual(['p8:r2']);
    flow.forget(peers[1]);
    expect(pulled.slice(9)).toEqual(['p10:r1']);
    // An offer for the round already pulled does not queue the participant again.
    flow.requestUpload(peers[2], 'r1');
    flow.releaseUpload(peers[3]);
    expect(pulled).toHaveLength(10);
  });
});
