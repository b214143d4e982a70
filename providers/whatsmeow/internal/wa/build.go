package wa

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"

	"github.com/whatsapp-gateway/providers/whatsmeow/internal/protocol"
)

var webMessageID = regexp.MustCompile(`^[0-9A-F]{16,64}$`)

// MessageID is the WhatsApp message id of a send: the client's id itself when it already has WhatsApp's shape
// (upper-case hex), otherwise derived from it in the shape whatsmeow gives its own ids ("3EB0" and 18 hex
// digits). Deterministic, so a retried send reuses its id and WhatsApp de-duplicates it on the receiving side.
func MessageID(instanceID, clientID string) string {
	if webMessageID.MatchString(clientID) {
		return clientID
	}
	sum := sha256.Sum256([]byte("whatsapp-gateway:" + instanceID + ":" + clientID))
	return whatsmeow.WebMessageIDPrefix + strings.ToUpper(hex.EncodeToString(sum[:9]))
}

// ParseRecipient turns the protocol's `to`/`chat` (digits or a JID) into a JID.
func ParseRecipient(value string) (types.JID, error) {
	if protocol.IsPhone(value) {
		return types.NewJID(value, types.DefaultUserServer), nil
	}
	if !protocol.IsRecipient(value) {
		return types.EmptyJID, protocol.InvalidRecipient("to")
	}
	jid, err := types.ParseJID(value)
	if err != nil {
		return types.EmptyJID, protocol.InvalidRecipient("to")
	}
	return jid.ToNonAD(), nil
}

// MediaType is the upload key class of a media send.
func MediaType(send *protocol.Send) whatsmeow.MediaType {
	switch send.Type {
	case "video":
		return whatsmeow.MediaVideo
	case "audio":
		return whatsmeow.MediaAudio
	case "document":
		return whatsmeow.MediaDocument
	default: // image, sticker
		return whatsmeow.MediaImage
	}
}

// DefaultMimetype is what a media send without a mimetype (and without one from its URL) is sent as.
func DefaultMimetype(send *protocol.Send) string {
	switch send.Type {
	case "image":
		return "image/jpeg"
	case "video":
		return "video/mp4"
	case "audio":
		if send.VoiceNote {
			return "audio/ogg; codecs=opus"
		}
		return "audio/mpeg"
	case "sticker":
		return "image/webp"
	default:
		return "application/octet-stream"
	}
}

// ReactionTarget says whose message a reaction is about: ours, or the sender's (needed in groups).
type ReactionTarget struct {
	FromMe bool
	Sender types.JID
}

// BuildInput is everything a send needs besides its body.
type BuildInput struct {
	Chat     types.JID
	Upload   *whatsmeow.UploadResponse // media sends: the uploaded, encrypted file
	Mimetype string                    // media sends: the final mimetype
	Reaction ReactionTarget
	Now      time.Time
	Secret   []byte // polls: the 32-byte message secret votes are encrypted with
}

// BuildMessage turns a validated unified send into the waE2E message whatsmeow sends.
func BuildMessage(send *protocol.Send, in BuildInput) (*waE2E.Message, error) {
	var context *waE2E.ContextInfo
	if send.ReplyTo != "" {
		context = &waE2E.ContextInfo{StanzaID: proto.String(send.ReplyTo)}
	}
	switch send.Type {
	case "text":
		if context == nil {
			return &waE2E.Message{Conversation: proto.String(send.Text)}, nil
		}
		return &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
			Text: proto.String(send.Text), ContextInfo: context,
		}}, nil
	case "image", "video", "audio", "document", "sticker":
		return buildMedia(send, in, context)
	case "location":
		loc := send.Location
		m := &waE2E.LocationMessage{
			DegreesLatitude: proto.Float64(loc.Latitude), DegreesLongitude: proto.Float64(loc.Longitude),
			ContextInfo: context,
		}
		if loc.Name != "" {
			m.Name = proto.String(loc.Name)
		}
		if loc.Address != "" {
			m.Address = proto.String(loc.Address)
		}
		return &waE2E.Message{LocationMessage: m}, nil
	case "contact":
		return &waE2E.Message{ContactMessage: &waE2E.ContactMessage{
			DisplayName: proto.String(send.Contact.Name), Vcard: proto.String(VCard(send.Contact)), ContextInfo: context,
		}}, nil
	case "reaction":
		key := &waCommon.MessageKey{
			RemoteJID: proto.String(in.Chat.String()),
			FromMe:    proto.Bool(in.Reaction.FromMe),
			ID:        proto.String(send.Reaction.MessageID),
		}
		if !in.Reaction.FromMe && in.Chat.Server == types.GroupServer && !in.Reaction.Sender.IsEmpty() {
			key.Participant = proto.String(in.Reaction.Sender.ToNonAD().String())
		}
		return &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{
			Key: key, Text: proto.String(send.Reaction.Emoji), SenderTimestampMS: proto.Int64(in.Now.UnixMilli()),
		}}, nil
	case "poll":
		if len(in.Secret) != 32 {
			return nil, fmt.Errorf("a poll needs a 32-byte message secret")
		}
		options := make([]*waE2E.PollCreationMessage_Option, len(send.Poll.Options))
		for i, name := range send.Poll.Options {
			options[i] = &waE2E.PollCreationMessage_Option{OptionName: proto.String(name)}
		}
		return &waE2E.Message{
			PollCreationMessage: &waE2E.PollCreationMessage{
				Name: proto.String(send.Poll.Name), Options: options,
				SelectableOptionsCount: proto.Uint32(uint32(send.Poll.SelectableCount)), ContextInfo: context,
			},
			MessageContextInfo: &waE2E.MessageContextInfo{MessageSecret: in.Secret},
		}, nil
	}
	return nil, &protocol.Problem{Status: 422, Code: "unsupported_message_type", Detail: "cannot send " + send.Type}
}

func buildMedia(send *protocol.Send, in BuildInput, context *waE2E.ContextInfo) (*waE2E.Message, error) {
	up := in.Upload
	if up == nil {
		return nil, fmt.Errorf("a %s send without uploaded media", send.Type)
	}
	mimetype := in.Mimetype
	if mimetype == "" {
		mimetype = DefaultMimetype(send)
	}
	length := proto.Uint64(up.FileLength)
	caption := func() *string {
		if send.Media.Caption == "" {
			return nil
		}
		return proto.String(send.Media.Caption)
	}
	switch send.Type {
	case "image":
		return &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: length,
			Mimetype: proto.String(mimetype), Caption: caption(), ContextInfo: context,
		}}, nil
	case "video":
		return &waE2E.Message{VideoMessage: &waE2E.VideoMessage{
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: length,
			Mimetype: proto.String(mimetype), Caption: caption(), ContextInfo: context,
		}}, nil
	case "audio":
		return &waE2E.Message{AudioMessage: &waE2E.AudioMessage{
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: length,
			Mimetype: proto.String(mimetype), PTT: proto.Bool(send.VoiceNote), ContextInfo: context,
		}}, nil
	case "document":
		filename := send.Media.Filename
		if filename == "" {
			filename = "document"
		}
		return &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: length,
			Mimetype: proto.String(mimetype), FileName: proto.String(filename), Title: proto.String(filename),
			Caption: caption(), ContextInfo: context,
		}}, nil
	default: // sticker
		return &waE2E.Message{StickerMessage: &waE2E.StickerMessage{
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: length,
			Mimetype: proto.String(mimetype), ContextInfo: context,
		}}, nil
	}
}

// VCard is a vCard 3.0 for a contact card; `waid` lets WhatsApp offer "Message" for numbers on WhatsApp.
func VCard(c *protocol.Contact) string {
	escape := strings.NewReplacer(`\`, `\\`, ",", `\,`, ";", `\;`, "\n", `\n`).Replace
	var b strings.Builder
	b.WriteString("BEGIN:VCARD\nVERSION:3.0\n")
	fmt.Fprintf(&b, "N:;%s;;;\nFN:%s\n", escape(c.Name), escape(c.Name))
	if c.Organization != "" {
		fmt.Fprintf(&b, "ORG:%s\n", escape(c.Organization))
	}
	if c.Email != "" {
		fmt.Fprintf(&b, "EMAIL:%s\n", escape(c.Email))
	}
	for _, phone := range c.Phones {
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, phone)
		if digits == "" {
			continue
		}
		fmt.Fprintf(&b, "TEL;type=CELL;waid=%s:+%s\n", digits, digits)
	}
	b.WriteString("END:VCARD")
	return b.String()
}
