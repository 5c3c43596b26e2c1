package socketio

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Engine.IO v4 packet types: the first character of every Engine.IO packet.
const (
	eioOpen    = '0'
	eioClose   = '1'
	eioPing    = '2'
	eioPong    = '3'
	eioMessage = '4'
	eioUpgrade = '5'
	eioNoop    = '6'
)

// recordSeparator joins packets in one HTTP long-polling body (Engine.IO v4).
const recordSeparator = '\x1e'

// Socket.IO v5 packet types: the first character of an Engine.IO message's data.
const (
	sioConnect      = '0'
	sioDisconnect   = '1'
	sioEvent        = '2'
	sioAck          = '3'
	sioConnectError = '4'
	sioBinaryEvent  = '5'
	sioBinaryAck    = '6'
)

// sioPacket is a decoded Socket.IO packet.
type sioPacket struct {
	Type      byte
	Namespace string
	// AckID is the acknowledgement id the sender asked for, or -1.
	AckID int64
	// Data is the packet's JSON payload (nil when absent).
	Data json.RawMessage
}

var errBinaryUnsupported = errors.New("binary socket.io packets are not supported")

// decodeSocketPacket parses "<type>[/<nsp>,][<ack id>][<json>]".
func decodeSocketPacket(s string) (sioPacket, error) {
	p := sioPacket{AckID: -1, Namespace: "/"}
	if s == "" {
		return p, errors.New("empty socket.io packet")
	}
	p.Type = s[0]
	switch p.Type {
	case sioConnect, sioDisconnect, sioEvent, sioAck, sioConnectError:
	case sioBinaryEvent, sioBinaryAck:
		return p, errBinaryUnsupported
	default:
		return p, fmt.Errorf("unknown socket.io packet type %q", p.Type)
	}
	rest := s[1:]
	if strings.HasPrefix(rest, "/") {
		nsp, after, found := strings.Cut(rest, ",")
		if !found {
			// A namespace with nothing after it ("0/admin") is legal for CONNECT and DISCONNECT.
			nsp, after = rest, ""
		}
		p.Namespace, rest = nsp, after
	}
	digits := 0
	for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
		digits++
	}
	if digits > 0 {
		id, err := strconv.ParseInt(rest[:digits], 10, 64)
		if err != nil {
			return p, fmt.Errorf("bad ack id: %w", err)
		}
		p.AckID, rest = id, rest[digits:]
	}
	if rest != "" {
		if !json.Valid([]byte(rest)) {
			return p, errors.New("socket.io packet data is not JSON")
		}
		p.Data = json.RawMessage(rest)
	}
	return p, nil
}

// messagePacket frames a Socket.IO packet as an Engine.IO message packet: "4" + type + data.
func messagePacket(sioType byte, data []byte) []byte {
	out := make([]byte, 0, 2+len(data))
	out = append(out, eioMessage, sioType)
	return append(out, data...)
}

// eventPacket encodes `42["name",payload]` for the default namespace.
func eventPacket(name string, payload any) ([]byte, error) {
	data, err := json.Marshal([]any{name, payload})
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", name, err)
	}
	return messagePacket(sioEvent, data), nil
}

// connectErrorPacket encodes CONNECT_ERROR `44{"message":...}`, which the client surfaces as connect_error.
func connectErrorPacket(namespace, message string) []byte {
	data, _ := json.Marshal(map[string]string{"message": message})
	if namespace != "/" {
		data = append([]byte(namespace+","), data...)
	}
	return messagePacket(sioConnectError, data)
}

// splitPayload splits a long-polling body into its packets.
func splitPayload(body string) []string {
	return strings.Split(body, string(recordSeparator))
}
