"""The state of one video's tracks while its frames are linked in order (tracking/link.py gives the rules),
frame by frame, or a steady stretch of frames at once.

A steady stretch: consecutive frames of one shot, each with as many confident detections as there are
live tracks, every track seen in the previous frame and its filter in its steady state, and an obvious
provisional match (each detection's nearest detection of the next frame, all different). The stretch is
linked in one batch: the filters run through the provisional chains (one lfilter call), every frame's
costs are computed at once, and the frames are kept up to the first one where the cheapest detection of
some track is not its provisional one or is over the gate. Up to there, frame-by-frame linking would
have done exactly the same: every track takes its cheapest detection (the assignment's lower bound), no
track is left for the second pass or a merge, no detection starts a track.
"""
from __future__ import annotations

import numpy as np

from tracking.link import Detections, Prediction, TrackerConfig, assign, moved, pair_costs, predict
from tracking.chains import provisional_chains
from tracking.hindsight import doubtful
from tracking.motion import Filters
from tracking.rivals import clear_matches, coin_tosses, handed_back
from tracking.similarity import box_gaps, paired_iou, pairwise_iou, pose_similarity

MAX_BATCH_FRAMES = 256  # frames linked in one batch: bounds the work a batch that fails early wastes
MAX_PATH_STEP = 0.5  # body heights: a track this close to another's path through its gap is the same person


class Linker:
    def __init__(self, detections: Detections, config: TrackerConfig,
                 frame_size: tuple[int, int] | None = None) -> None:
        self.d, self.config, self.frame_size = detections, config, frame_size
        self.sigmas, self.weights = config.joint_spreads()
        self.filters = Filters(config.motion)
        # Per slot (a track's row in these arrays; the i-th track started has slot i and id i).
        self.first_frame = np.zeros(0, dtype=np.int64)
        self.last_frame = np.zeros(0, dtype=np.int64)
        self.last_row = np.zeros(0, dtype=np.int64)  # the detection it was last seen as
        self.hits = np.zeros(0, dtype=np.int64)  # detections it has taken
        self.first_row = np.zeros(0, dtype=np.int64)  # the detection it started as
        self.live = np.zeros(0, dtype=np.int64)  # slots of the live tracks
        self.parent = np.zeros(0, dtype=np.int64)  # id -> the id it was merged into (itself when none)
        self.unsure = np.zeros(len(detections.frames), dtype=bool)  # taken, but no id shown (rivals.coin_tosses)

    def run(self, shot_of: np.ndarray) -> np.ndarray:
        """(N,) track ids per detection; shot_of: (N,) shot index of each detection."""
        d = self.d
        assigned = self.assigned = np.full(len(d.frames), -1, dtype=np.int64)
        boundaries = np.flatnonzero(np.diff(d.frames)) + 1
        starts = np.concatenate([[0], boundaries])
        ends = np.concatenate([boundaries, [len(d.frames)]])
        successor, run_end = provisional_chains(d, starts, ends, shot_of)
        k = 0
        while k < len(starts):
            start, end = starts[k], ends[k]
            frame = int(d.frames[start])
            if k > 0 and shot_of[start] != shot_of[starts[k - 1]]:
                self.live = self.live[:0]  # a cut ends every track
            if len(self.live):
                self.live = self.live[frame - self.last_frame[self.live] <= self.config.max_gap + 1]
            if len(self.live) and self.frame_size is not None:
                self.live = self.live[self._in_view(frame)]
            if run_end[k] > k + 1 and MAX_BATCH_FRAMES > 1 and len(self.live) == end - start:
                done = self._steady(k, min(run_end[k], k + MAX_BATCH_FRAMES), starts, successor)
                if done:
                    k += done
                    continue
            assigned[start:end] = self._frame(frame, start, end)
            k += 1
        return self._renumbered(assigned)

    def _in_view(self, frame: int) -> np.ndarray:
        """(live,) False for a track unseen since before the last frame whose predicted box centre has left
        the frame: it walked out of view, and whoever comes in at that edge later is someone else."""
        unseen = frame - self.last_frame[self.live]
        centre = self.filters.mean[self.live, :2] + self.filters.velocity[self.live, :2] * unseen[:, None]
        inside = ((centre >= 0) & (centre <= np.asarray(self.frame_size, dtype=np.float64))).all(axis=1)
        return inside | (unseen <= 1)

    def _renumbered(self, assigned: np.ndarray) -> np.ndarray:
        """Merged ids take the id they were merged into; tracks with fewer than min_detections detections
        are dropped (-1), as are unsure detections and those the frames after them put in doubt
        (tracking.hindsight); then ids are numbered by first appearance."""
        if not len(self.parent):  # no track started: every detection was weak
            return np.full(len(assigned), -1, dtype=np.int64)
        root = self.parent.copy()
        while (root[root] != root).any():
            root = root[root]
        tracked = assigned >= 0
        merged = root[np.maximum(assigned, 0)]  # the id each detection's track was merged into
        sizes = np.bincount(merged[tracked], minlength=len(root))
        tracked &= (sizes[merged] >= self.config.min_detections) & ~self.unsure
        if self.config.hindsight_span:
            tracked &= ~doubtful(self.d.frames, self.d.boxes, np.where(tracked, merged, -1), self.config.hindsight_span)
        merged = merged[tracked]
        _, first_seen, renumbered = np.unique(merged, return_index=True, return_inverse=True)
        rank = np.argsort(np.argsort(first_seen))
        out = np.full(len(assigned), -1, dtype=np.int64)
        out[tracked] = rank[renumbered]
        return out

    def _frame(self, frame: int, start: int, end: int) -> np.ndarray:
        """Link one frame's detections (rows start:end); returns their ids (-1: none)."""
        d, config = self.d, self.config
        out = np.full(end - start, -1, dtype=np.int64)
        deferred = np.zeros(end - start, dtype=bool)  # left to no track: two tracks fit it almost equally
        if len(self.live):
            live = self.live
            since = frame - self.last_frame[live]  # frames since each live track was last seen
            prediction = predict(d, self.filters, live, self.last_row[live], since, self.sigmas)
            cost, distance = pair_costs(prediction, d, np.arange(start, end), self.weights, config.oks_weight)
            allowed = distance <= config.max_cost
            confirmed = self.hits[live] >= config.min_detections
            # A confirmed track seen in the last frame is held to the loose gate in every pass: a detector's
            # jitter that puts its own person just over the gate would hand them to a lost track whose
            # vague prediction still fits, for a frame (A, B, A).
            allowed |= ((since == 1) & confirmed)[:, None] & (distance <= config.loose_cost)
            confident = d.confident[start:end]
            first = np.flatnonzero(confident)
            track_rows, cols = assign(cost[:, first], allowed[:, first])
            cols = first[cols]
            unmatched = np.ones(len(live), dtype=bool)
            unmatched[track_rows] = False
            weak = np.flatnonzero(~confident)
            if len(weak) and unmatched.any():  # ByteTrack's second pass: weak detections continue tracks
                left = np.flatnonzero(unmatched)
                more_rows, more_cols = assign(cost[np.ix_(left, weak)], allowed[np.ix_(left, weak)])
                track_rows = np.concatenate([track_rows, left[more_rows]])
                cols = np.concatenate([cols, weak[more_cols]])
                unmatched[left[more_rows]] = False
            if config.loose_cost > config.max_cost and unmatched.any():
                # Against the last sighting too, unmoved: a walker who turns round or stops is where the
                # prediction is not.
                still = Prediction(d.xy[self.last_row[live]], prediction.visible, prediction.variance,
                                   prediction.sharpness, d.boxes[self.last_row[live]])
                _, unmoved = pair_costs(still, d, np.arange(start, end), self.weights, config.oks_weight)
                unmoved[since > 1] = 1.0  # only for tracks seen in the last frame
                track_rows, cols = self._loose_pass(np.minimum(distance, unmoved), track_rows, cols, unmatched)
            rival = confirmed & (since <= config.rival_gap)
            if config.defer_margin > 0 and len(track_rows):
                # Left to no track this frame: the two coast on their predictions, the next frame decides.
                keep = clear_matches(cost, allowed, track_rows, cols, rival, config.defer_margin)
                deferred[cols[~keep]] = True
                unmatched[track_rows[~keep]] = True
                track_rows, cols = track_rows[keep], cols[keep]
            absorbed = np.zeros(len(live), dtype=bool)
            if config.merge and len(track_rows) and unmatched.any():
                absorbed = self._absorb(cost, allowed, track_rows, cols, unmatched, frame, start)
            if config.unsure_iou < 1 and len(track_rows):
                tossed = coin_tosses(prediction, allowed, distance, track_rows, cols, rival, config.unsure_iou,
                                     config.unsure_distance)
                self.unsure[start + cols[tossed]] = True  # the track still follows it; the output shows no id
            if config.hand_back_iou < 1 and len(track_rows):
                rows, takers = handed_back(d, self.assigned, frame, start + cols, live[track_rows], since[track_rows],
                                           config.hand_back_iou)
                self.assigned[rows] = takers  # the output only: the tracks' state stays as it was
            slots = live[track_rows]
            out[cols] = slots
            self.filters.update(slots, since[track_rows], d.measured[start + cols])
            self.last_frame[slots] = frame
            self.last_row[slots] = start + cols
            self.hits[slots] += 1
            # A tentative track (fewer than min_detections sightings) that misses a frame ends, as in SORT: left
            # waiting out a gap, a one-frame stray would take the next person to come by.
            tentative_miss = (unmatched & (self.hits[live] < config.min_detections)
                              & (frame - self.last_frame[live] > config.tentative_gap))
            self.live = live[~absorbed & ~tentative_miss]
        new = np.flatnonzero((out < 0) & d.confident[start:end] & ~deferred)
        if len(new):
            out[new] = self._start(frame, start + new)
        return out

    def _loose_pass(self, distance: np.ndarray, track_rows: np.ndarray, cols: np.ndarray, unmatched: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Unmatched tracks take leftover detections under loose_cost where the two are each other's only
        candidate under it among all the frame's tracks and detections (updates `unmatched` in place)."""
        loose = distance <= self.config.loose_cost
        only = loose & (loose.sum(axis=1, keepdims=True) == 1) & (loose.sum(axis=0, keepdims=True) == 1)
        left = np.flatnonzero(unmatched)
        free = np.setdiff1d(np.arange(distance.shape[1]), cols)
        more_rows, more_cols = np.nonzero(only[np.ix_(left, free)])
        unmatched[left[more_rows]] = False
        return np.concatenate([track_rows, left[more_rows]]), np.concatenate([cols, free[more_cols]])

    def _absorb(self, cost: np.ndarray, allowed: np.ndarray, track_rows: np.ndarray, cols: np.ndarray,
                unmatched: np.ndarray, frame: int, start: int) -> np.ndarray:
        """Merge unmatched tracks into matched ones that show the same person in another stretch of time:
        the two were never seen in one frame (one lived wholly inside the other's gap, or wholly before
        it started) and either the matched detection fits the unmatched track's prediction under the gate,
        or the unmatched track lived inside the matched one's gap along its path (on_gap_path): without
        that, the old id, the new one and the old one again would take turns on one person.
        Returns which live tracks were absorbed (they leave the live set)."""
        absorbed = np.zeros(len(self.live), dtype=bool)
        candidates = np.flatnonzero(unmatched)
        matched_slots, other_slots = self.live[track_rows], self.live[candidates]
        inside_gap = self.first_frame[other_slots][None, :] > self.last_frame[matched_slots][:, None]
        disjoint = inside_gap | (self.last_frame[other_slots][None, :] < self.first_frame[matched_slots][:, None])
        pairs = disjoint & allowed[np.ix_(candidates, cols)].T  # (matched, candidates)
        for i, j in zip(*np.nonzero(inside_gap & ~pairs)):
            pairs[i, j] = self._on_gap_path(matched_slots[i], start + cols[i], frame, other_slots[j])
        for i in np.flatnonzero(pairs.any(axis=1)):
            options = np.flatnonzero(pairs[i] & ~absorbed[candidates])
            if not len(options):
                continue
            j = options[np.argmin(cost[candidates[options], cols[i]])]
            keep, gone = matched_slots[i], other_slots[j]
            a, b = self._root(keep), self._root(gone)
            self.parent[max(a, b)] = min(a, b)
            self.first_frame[keep] = min(self.first_frame[keep], self.first_frame[gone])
            absorbed[candidates[j]] = True
        return absorbed

    def _on_gap_path(self, slot: int, row: int, frame: int, other: int) -> bool:
        """Whether track `other`, first and last seen inside the gap of track `slot` (now seen again as
        detection `row` at `frame`), was both times within MAX_PATH_STEP body heights of the straight
        path from the track's last sighting to this one."""
        d, before, then = self.d, self.last_row[slot], self.last_frame[slot]
        for seen in (self.first_row[other], self.last_row[other]):
            share = (d.frames[seen] - then) / (frame - then)
            expected = (1 - share) * d.measured[before] + share * d.measured[row]
            if np.hypot(*(d.measured[seen, :2] - expected[:2])) > MAX_PATH_STEP * np.exp(expected[2]):
                return False
        return True

    def _root(self, track_id: int) -> int:
        while self.parent[track_id] != track_id:
            track_id = self.parent[track_id]
        return int(track_id)

    def _start(self, frame: int, rows: np.ndarray) -> np.ndarray:
        slots = np.arange(len(self.parent), len(self.parent) + len(rows))
        self.parent = np.concatenate([self.parent, slots])
        self.first_frame = np.concatenate([self.first_frame, np.full(len(rows), frame)])
        self.last_frame = np.concatenate([self.last_frame, np.full(len(rows), frame)])
        self.last_row = np.concatenate([self.last_row, rows])
        self.first_row = np.concatenate([self.first_row, rows])
        self.hits = np.concatenate([self.hits, np.ones(len(rows), dtype=np.int64)])
        self.filters.start(slots, self.d.measured[rows])
        self.live = np.concatenate([self.live, slots])
        return slots

    def _steady(self, k: int, k_end: int, starts: np.ndarray, successor: np.ndarray) -> int:
        """Link frames k..k_end-1 at once if they are a steady stretch (see the module's docstring);
        returns how many frames were linked (0: none, link frame k alone)."""
        d, config, live = self.d, self.config, self.live
        frame = int(d.frames[starts[k]])
        if not ((self.last_frame[live] == frame - 1).all() and self.filters.is_steady(live).all()):
            return 0
        n_frames, n_people = k_end - k, len(live)
        chains = np.empty((n_frames, n_people), dtype=np.int64)  # each track's provisional detection per frame
        row = self.last_row[live]
        for t in range(n_frames):
            row = successor[row]
            chains[t] = row
        measured = d.measured[chains]
        predicted = self.filters.steady_predictions(live, measured)
        before = np.concatenate([self.last_row[live][None], chains[:-1]])  # what each track was last seen as
        xy, box = moved(d, before, predicted[:-1])
        # A steady track's joints: their own spread plus the steady body variance; its sharpness is 1.
        variance = (self.sigmas ** 2 + self.filters.steady_spread()) * np.exp(2 * predicted[:-1, :, 2:3])
        visible, w = d.visible[before], config.oks_weight
        own_cost = 1 - (w * pose_similarity(xy, visible, variance, d.xy[chains], d.visible[chains], self.weights)
                        + (1 - w) * paired_iou(box, d.boxes[chains]))
        kept = (own_cost <= config.max_cost).all(axis=1)
        if config.unsure_iou < 1:  # two tracks predicted almost at one place: linked frame by frame (coin_tosses)
            overlap = pairwise_iou(box, box)
            overlap[:, np.arange(n_people), np.arange(n_people)] = 0.0
            kept &= (overlap < config.unsure_iou).all(axis=(1, 2))
        # Could another detection cost a track as little as its own? Bound its cost from below first (every
        # joint of it is at least the gap between the two boxes away), then compute the few that pass.
        frame_rows = starts[k:k_end, None] + np.arange(n_people)  # (frames, people): each frame's detections
        iou = pairwise_iou(box, d.boxes[frame_rows])
        gap = box_gaps(box, d.boxes[frame_rows])
        bound = 1 - (w * np.exp(-0.5 * gap * gap / variance.max(axis=2)[..., None]) + (1 - w) * iou)
        own = chains - starts[k:k_end, None]
        others = np.arange(n_people) != own[..., None]
        t, i, j = np.nonzero(others & (bound <= own_cost[..., None]))
        if len(t):
            rows = frame_rows[t, j]
            cost = 1 - (w * pose_similarity(xy[t, i], visible[t, i], variance[t, i], d.xy[rows], d.visible[rows],
                                            self.weights) + (1 - w) * iou[t, i, j])
            # As argmin decides: the first cheapest column wins a tie.
            beaten = (cost < own_cost[t, i]) | ((cost == own_cost[t, i]) & (j < own[t, i]))
            kept[t[beaten]] = False
        n_kept = int(np.argmin(kept)) if not kept.all() else n_frames
        if n_kept == 0:
            return 0
        self.filters.commit_steady(live, predicted, measured, n_kept)
        self.assigned[chains[:n_kept]] = live
        self.last_row[live] = chains[n_kept - 1]
        self.hits[live] += n_kept
        self.last_frame[live] = d.frames[chains[n_kept - 1]]
        return n_kept
