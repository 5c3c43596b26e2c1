package socketio

import (
	"maps"
	"slices"
	"strings"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/events"
)

// This file routes bus events to sockets by docs/security.md D15 and the socket routing at HEAD (docs/compatibility.md §9):
//
//   - OwnerAndAdmins: the owner's room and the admin room, each socket at most once. invocation_progress goes
//     to the owner with its preview image; admins who are not the owner get a copy with image: null.
//     In single-user mode, bulk downloads owned by "system" go to the bulk-download room named by QueueID.
//   - Queue: the full payload to owner and admins; the Sanitized payload to everyone else in the queue room.
//   - OwnerAdminsAndShared: owner and admins, plus the shared-workflows room when the payload says is_public.
//   - Admins: the admin room in full, the Sanitized payload (if any) to every other socket.
//   - Everyone: every connected socket; allowed only for events that carry no user's data.
//
// An event whose name is not known here, or whose audience its name does not allow, is not delivered: a new
// event must be added deliberately, with the audiences that cannot leak another user's data.

// allowedAudiences lists the audiences a publisher may give each event the server forwards.
func allowedAudiences(name string) []events.Audience {
	owner := []events.Audience{events.OwnerAndAdmins}
	switch name {
	case "invocation_started", "invocation_progress", "invocation_complete", "invocation_error",
		"recall_parameters_updated", "bulk_download_started", "bulk_download_complete", "bulk_download_error":
		return owner
	case "queue_item_status_changed", "batch_enqueued", "queue_items_retried", "queue_cleared", "queue_items_canceled":
		return []events.Audience{events.Queue, events.OwnerAndAdmins}
	case "workflow_created", "workflow_updated", "workflow_deleted":
		return []events.Audience{events.OwnerAdminsAndShared, events.OwnerAndAdmins}
	case "workflow_access_revoked":
		// Carries only the workflow's id and owner: everyone who could see the shared workflow drops it.
		return []events.Audience{events.Everyone, events.OwnerAdminsAndShared, events.OwnerAndAdmins}
	}
	// Model-manager events name sources (which may have held credentials) and server paths: admins get them in
	// full, others at most a sanitised copy (docs/security.md "Model sources and paths"). InvokeAI broadcasts them.
	for _, prefix := range []string{"model_install_", "model_load_", "download_"} {
		if strings.HasPrefix(name, prefix) {
			return []events.Audience{events.Admins}
		}
	}
	return nil
}

func isBulkDownloadEvent(name string) bool { return strings.HasPrefix(name, "bulk_download_") }

// route delivers events until the subscription closes.
func (s *Server) route(ch <-chan events.Event) {
	defer close(s.routerDone)
	for e := range ch {
		s.deliver(e)
	}
}

// delivery is one payload and the sockets that receive it.
type delivery struct {
	payload map[string]any
	sockets []*socket
}

// deliver sends one event to the sockets allowed to see it.
func (s *Server) deliver(e events.Event) {
	allowed := allowedAudiences(e.Name)
	if allowed == nil {
		s.logger.Debug("socket.io: event not forwarded (unknown)", "event", e.Name)
		return
	}
	if !slices.Contains(allowed, e.Audience) {
		s.logger.Warn("socket.io: event not forwarded (audience not allowed for it)", "event", e.Name, "audience", int(e.Audience))
		return
	}
	// Per-recipient fields (docs/security.md D14's queue_status) are computed once per distinct viewer.
	overlays := map[access.Principal]map[string]any{}
	for _, d := range s.plan(e) {
		if len(d.sockets) == 0 {
			continue
		}
		if e.PerRecipient == nil {
			packet, err := eventPacket(e.Name, d.payload)
			if err != nil {
				s.logger.Error("socket.io: event not forwarded", "event", e.Name, "error", err)
				continue
			}
			for _, sock := range d.sockets {
				sock.sess.send(packet)
			}
			continue
		}
		for _, sock := range d.sockets {
			viewer := access.Principal{UserID: sock.principal.UserID, IsAdmin: sock.principal.IsAdmin, Authenticated: true}
			overlay, ok := overlays[viewer]
			if !ok {
				overlay = e.PerRecipient(viewer)
				overlays[viewer] = overlay
			}
			payload := maps.Clone(d.payload)
			maps.Copy(payload, overlay)
			packet, err := eventPacket(e.Name, payload)
			if err != nil {
				s.logger.Error("socket.io: event not forwarded", "event", e.Name, "error", err)
				break
			}
			sock.sess.send(packet)
		}
	}
}

// plan picks the recipients of each payload variant under the read lock; sending happens after it is released,
// because a send may close a slow session, which takes the write lock.
func (s *Server) plan(e events.Event) []delivery {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e.Audience == events.Everyone {
		all := make([]*socket, 0, len(s.sockets))
		for sock := range s.sockets {
			all = append(all, sock)
		}
		return []delivery{{payload: e.Payload, sockets: all}}
	}
	if e.Audience == events.Admins {
		admins := s.membersLocked(adminRoom, nil)
		plans := []delivery{{payload: e.Payload, sockets: admins}}
		if e.Sanitized != nil {
			skip := make(map[*socket]struct{}, len(admins))
			for _, sock := range admins {
				skip[sock] = struct{}{}
			}
			others := make([]*socket, 0, len(s.sockets))
			for sock := range s.sockets {
				if _, admin := skip[sock]; !admin {
					others = append(others, sock)
				}
			}
			plans = append(plans, delivery{payload: e.Sanitized, sockets: others})
		}
		return plans
	}
	if e.Audience == events.OwnerAndAdmins && isBulkDownloadEvent(e.Name) && e.UserID == access.SystemUserID && !s.opts.Multiuser {
		// Single-user mode: InvokeAI sends system-owned downloads to the room the client subscribed to. In
		// multi-user mode every user subscribes to that room, so there the owner rule applies instead.
		return []delivery{{payload: e.Payload, sockets: s.membersLocked(bulkDownloadRoom(e.QueueID), nil)}}
	}
	owners := s.rooms[userRoom(e.UserID)]
	full := s.membersLocked(userRoom(e.UserID), nil)
	seen := make(map[*socket]struct{}, len(full))
	for sock := range owners {
		seen[sock] = struct{}{}
	}
	var plans []delivery
	// Admins who are not the owner.
	var admins []*socket
	for sock := range s.rooms[adminRoom] {
		if _, dup := seen[sock]; !dup {
			seen[sock] = struct{}{}
			admins = append(admins, sock)
		}
	}
	if e.Name == "invocation_progress" {
		// The preview image is the owner's alone (docs/security.md D15).
		stripped := maps.Clone(e.Payload)
		if stripped == nil {
			stripped = map[string]any{}
		}
		stripped["image"] = nil
		plans = append(plans, delivery{payload: e.Payload, sockets: full}, delivery{payload: stripped, sockets: admins})
		return plans
	}
	full = append(full, admins...)
	switch e.Audience {
	case events.OwnerAdminsAndShared:
		if public, _ := e.Payload["is_public"].(bool); public {
			for sock := range s.rooms[sharedWorkflowsRoom] {
				if _, dup := seen[sock]; !dup {
					seen[sock] = struct{}{}
					full = append(full, sock)
				}
			}
		}
	case events.Queue:
		if e.Sanitized != nil && e.QueueID != "" {
			plans = append(plans, delivery{payload: e.Sanitized, sockets: s.membersLocked(queueRoom(e.QueueID), seen)})
		}
	}
	return append(plans, delivery{payload: e.Payload, sockets: full})
}

// membersLocked lists a room's sockets, skipping those in skip.
func (s *Server) membersLocked(room string, skip map[*socket]struct{}) []*socket {
	members := s.rooms[room]
	out := make([]*socket, 0, len(members))
	for sock := range members {
		if _, skipped := skip[sock]; !skipped {
			out = append(out, sock)
		}
	}
	return out
}
