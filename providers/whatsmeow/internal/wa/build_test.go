package wa

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/whatsapp-gateway/providers/whatsmeow/internal/protocol"
)

var upload = &whatsmeow.UploadResponse{
	URL: "https://mmg.whatsapp.net/o1/v/t62/abc", DirectPath: "/o1/v/t62/abc", MediaKey: []byte("media-key"),
	FileEncSHA256: []byte("enc-sha"), FileSHA256: []byte("file-sha"), FileLength: 40,
}

func parse(t *testing.T, body string) *protocol.Send {
	t.Helper()
	send, err := protocol.ParseSend([]byte(body))
	if err != nil {
		t.Fatalf("ParseSend(%s): %v", body, err)
	}
	return send
}

func TestBuildMessage(t *testing.T) {
	png := base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n0123456789abcdef0123456789abcdef"))
	now := time.UnixMilli(1_790_000_000_123)
	secret := bytes.Repeat([]byte{7}, 32)
	cases := []struct {
		name  string
		body  string
		input BuildInput
		want  *waE2E.Message
	}{
		{
			name: "text",
			body: `{"id": "msg_1", "to": "14155550100", "type": "text", "text": "Hello"}`,
			want: &waE2E.Message{Conversation: proto.String("Hello")},
		},
		{
			name: "text replying is an extended text with the quoted id",
			body: `{"id": "msg_1", "to": "14155550100", "type": "text", "text": "Yes", "reply_to": "3EB0PREV"}`,
			want: &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
				Text: proto.String("Yes"), ContextInfo: &waE2E.ContextInfo{StanzaID: proto.String("3EB0PREV")},
			}},
		},
		{
			name:  "image with caption",
			body:  `{"id": "msg_1", "to": "14155550100", "type": "image", "media": {"base64": "` + png + `"}, "mimetype": "image/png", "caption": "a picture"}`,
			input: BuildInput{Upload: upload, Mimetype: "image/png"},
			want: &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
				URL: proto.String(upload.URL), DirectPath: proto.String(upload.DirectPath), MediaKey: upload.MediaKey,
				FileEncSHA256: upload.FileEncSHA256, FileSHA256: upload.FileSHA256, FileLength: proto.Uint64(40),
				Mimetype: proto.String("image/png"), Caption: proto.String("a picture"),
			}},
		},
		{
			name:  "video",
			body:  `{"id": "msg_1", "to": "14155550100", "type": "video", "media": {"url": "https://example.com/a.mp4"}, "caption": "a film"}`,
			input: BuildInput{Upload: upload, Mimetype: "video/mp4"},
			want: &waE2E.Message{VideoMessage: &waE2E.VideoMessage{
				URL: proto.String(upload.URL), DirectPath: proto.String(upload.DirectPath), MediaKey: upload.MediaKey,
				FileEncSHA256: upload.FileEncSHA256, FileSHA256: upload.FileSHA256, FileLength: proto.Uint64(40),
				Mimetype: proto.String("video/mp4"), Caption: proto.String("a film"),
			}},
		},
		{
			name:  "voice note",
			body:  `{"id": "msg_1", "to": "14155550100", "type": "audio", "media": {"base64": "` + png + `"}, "voice_note": true}`,
			input: BuildInput{Upload: upload},
			want: &waE2E.Message{AudioMessage: &waE2E.AudioMessage{
				URL: proto.String(upload.URL), DirectPath: proto.String(upload.DirectPath), MediaKey: upload.MediaKey,
				FileEncSHA256: upload.FileEncSHA256, FileSHA256: upload.FileSHA256, FileLength: proto.Uint64(40),
				Mimetype: proto.String("audio/ogg; codecs=opus"), PTT: proto.Bool(true),
			}},
		},
		{
			name:  "audio file",
			body:  `{"id": "msg_1", "to": "14155550100", "type": "audio", "media": {"base64": "` + png + `"}, "mimetype": "audio/mpeg"}`,
			input: BuildInput{Upload: upload, Mimetype: "audio/mpeg"},
			want: &waE2E.Message{AudioMessage: &waE2E.AudioMessage{
				URL: proto.String(upload.URL), DirectPath: proto.String(upload.DirectPath), MediaKey: upload.MediaKey,
				FileEncSHA256: upload.FileEncSHA256, FileSHA256: upload.FileSHA256, FileLength: proto.Uint64(40),
				Mimetype: proto.String("audio/mpeg"), PTT: proto.Bool(false),
			}},
		},
		{
			name:  "document with file name and caption",
			body:  `{"id": "msg_1", "to": "14155550100", "type": "document", "media": {"base64": "` + png + `"}, "mimetype": "application/pdf", "filename": "a.pdf", "caption": "doc"}`,
			input: BuildInput{Upload: upload, Mimetype: "application/pdf"},
			want: &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{
				URL: proto.String(upload.URL), DirectPath: proto.String(upload.DirectPath), MediaKey: upload.MediaKey,
				FileEncSHA256: upload.FileEncSHA256, FileSHA256: upload.FileSHA256, FileLength: proto.Uint64(40),
				Mimetype: proto.String("application/pdf"), FileName: proto.String("a.pdf"), Title: proto.String("a.pdf"),
				Caption: proto.String("doc"),
			}},
		},
		{
			name:  "sticker",
			body:  `{"id": "msg_1", "to": "14155550100", "type": "sticker", "media": {"base64": "` + png + `"}}`,
			input: BuildInput{Upload: upload},
			want: &waE2E.Message{StickerMessage: &waE2E.StickerMessage{
				URL: proto.String(upload.URL), DirectPath: proto.String(upload.DirectPath), MediaKey: upload.MediaKey,
				FileEncSHA256: upload.FileEncSHA256, FileSHA256: upload.FileSHA256, FileLength: proto.Uint64(40),
				Mimetype: proto.String("image/webp"),
			}},
		},
		{
			name: "location",
			body: `{"id": "msg_1", "to": "14155550100", "type": "location", "location": {"latitude": 52.37, "longitude": 4.89, "name": "Dam", "address": "Amsterdam"}}`,
			want: &waE2E.Message{LocationMessage: &waE2E.LocationMessage{
				DegreesLatitude: proto.Float64(52.37), DegreesLongitude: proto.Float64(4.89),
				Name: proto.String("Dam"), Address: proto.String("Amsterdam"),
			}},
		},
		{
			name: "contact card",
			body: `{"id": "msg_1", "to": "14155550100", "type": "contact", "contact": {"name": "Ada Lovelace", "phones": ["14155550199"], "organization": "Engines", "email": "ada@example.com"}}`,
			want: &waE2E.Message{ContactMessage: &waE2E.ContactMessage{
				DisplayName: proto.String("Ada Lovelace"),
				Vcard: proto.String("BEGIN:VCARD\nVERSION:3.0\nN:;Ada Lovelace;;;\nFN:Ada Lovelace\nORG:Engines\n" +
					"EMAIL:ada@example.com\nTEL;type=CELL;waid=14155550199:+14155550199\nEND:VCARD"),
			}},
		},
		{
			name:  "reaction to one of our own messages",
			body:  `{"id": "msg_1", "to": "14155550100", "type": "reaction", "reaction": {"message_id": "3EB0OURS", "emoji": "👍"}}`,
			input: BuildInput{Reaction: ReactionTarget{FromMe: true}},
			want: &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{
				Key:  &waCommon.MessageKey{RemoteJID: proto.String("14155550100@s.whatsapp.net"), FromMe: proto.Bool(true), ID: proto.String("3EB0OURS")},
				Text: proto.String("👍"), SenderTimestampMS: proto.Int64(now.UnixMilli()),
			}},
		},
		{
			name:  "reaction removed in a group names the author",
			body:  `{"id": "msg_1", "to": "120363025246125888@g.us", "type": "reaction", "reaction": {"message_id": "3EB0THEIRS", "emoji": ""}}`,
			input: BuildInput{Reaction: ReactionTarget{Sender: types.NewADJID("4915112345678", 0, 2)}},
			want: &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{
				Key: &waCommon.MessageKey{
					RemoteJID: proto.String("120363025246125888@g.us"), FromMe: proto.Bool(false), ID: proto.String("3EB0THEIRS"),
					Participant: proto.String("4915112345678@s.whatsapp.net"),
				},
				Text: proto.String(""), SenderTimestampMS: proto.Int64(now.UnixMilli()),
			}},
		},
		{
			name:  "poll",
			body:  `{"id": "msg_1", "to": "14155550100", "type": "poll", "poll": {"name": "Lunch?", "options": ["pizza", "sushi"], "selectable_count": 1}}`,
			input: BuildInput{Secret: secret},
			want: &waE2E.Message{
				PollCreationMessage: &waE2E.PollCreationMessage{
					Name: proto.String("Lunch?"),
					Options: []*waE2E.PollCreationMessage_Option{
						{OptionName: proto.String("pizza")}, {OptionName: proto.String("sushi")},
					},
					SelectableOptionsCount: proto.Uint32(1),
				},
				MessageContextInfo: &waE2E.MessageContextInfo{MessageSecret: secret},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			send := parse(t, tc.body)
			chat, err := ParseRecipient(send.To)
			if err != nil {
				t.Fatal(err)
			}
			in := tc.input
			in.Chat, in.Now = chat, now
			got, err := BuildMessage(send, in)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, tc.want) {
				t.Errorf("got  %s\nwant %s", protojson.Format(got), protojson.Format(tc.want))
			}
		})
	}
}

func TestMediaSendsUseTheRightUploadClass(t *testing.T) {
	want := map[string]whatsmeow.MediaType{
		"image": whatsmeow.MediaImage, "sticker": whatsmeow.MediaImage, "video": whatsmeow.MediaVideo,
		"audio": whatsmeow.MediaAudio, "document": whatsmeow.MediaDocument,
	}
	for kind, mediaType := range want {
		if got := MediaType(&protocol.Send{Type: kind}); got != mediaType {
			t.Errorf("%s: %s, want %s", kind, got, mediaType)
		}
	}
}

func TestMessageIDIsStableAndShapedLikeWhatsApps(t *testing.T) {
	first := MessageID("ins_A", "msg_01JD")
	if first != MessageID("ins_A", "msg_01JD") {
		t.Fatal("a retried send must reuse its WhatsApp id")
	}
	if first == MessageID("ins_A", "msg_01JE") || first == MessageID("ins_B", "msg_01JD") {
		t.Fatal("different sends must get different ids")
	}
	if !strings.HasPrefix(first, whatsmeow.WebMessageIDPrefix) || len(first) != 22 || strings.ToUpper(first) != first {
		t.Fatalf("not shaped like a WhatsApp Web id: %q", first)
	}
	if got := MessageID("ins_A", "3EB0C0FFEE1234567890AB"); got != "3EB0C0FFEE1234567890AB" {
		t.Fatalf("an id already shaped like WhatsApp's is used as is, got %q", got)
	}
}

func TestParseRecipient(t *testing.T) {
	cases := map[string]string{
		"14155550100":                  "14155550100@s.whatsapp.net",
		"14155550100@s.whatsapp.net":   "14155550100@s.whatsapp.net",
		"123456789012345@lid":          "123456789012345@lid",
		"120363025246125888@g.us":      "120363025246125888@g.us",
		"14155550100:3@s.whatsapp.net": "14155550100@s.whatsapp.net",
	}
	for in, want := range cases {
		got, err := ParseRecipient(in)
		if err != nil || got.String() != want {
			t.Errorf("%s: got %v %v, want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"not-a-number", "4155abc0100", "14155550100@example.com", "hello@g", "123"} {
		if _, err := ParseRecipient(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
