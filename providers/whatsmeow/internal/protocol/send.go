package protocol

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"unicode/utf8"
)

const (
	MaxMediaBytes    = 16 << 20
	MaxDocumentBytes = 100 << 20
	MaxIDLength      = 64
	MaxTextLength    = 4096
	MaxPollOptions   = 12
)

// MessageTypes are the send types this worker supports (all of §5).
var MessageTypes = []string{"text", "image", "video", "audio", "document", "sticker", "location", "contact", "reaction", "poll"}

// PresenceStates are the states of POST /v1/presence.
var PresenceStates = []string{"composing", "recording", "paused", "available", "unavailable"}

var (
	phonePattern = regexp.MustCompile(`^[0-9]{6,15}$`)
	// The user part of a JID is digits, optionally with a device (`:3`), or the creator-timestamp form of old groups.
	jidPattern = regexp.MustCompile(`^[0-9]+(?:[-:.][0-9]+)*@(?:s\.whatsapp\.net|g\.us|lid)$`)
)

// IsPhone reports a phone number as the protocol has them: digits only, 6–15 of them.
func IsPhone(value string) bool { return phonePattern.MatchString(value) }

// IsRecipient reports a phone number or a user, group or LID JID.
func IsRecipient(value string) bool {
	return phonePattern.MatchString(value) || jidPattern.MatchString(value)
}

// Media is where a send's bytes come from: exactly one of URL and Data.
type Media struct {
	URL      string
	Data     []byte
	Mimetype string
	Filename string
	Caption  string
	Limit    int64
}

type Location struct {
	Latitude, Longitude float64
	Name, Address       string
}

type Contact struct {
	Name         string
	Phones       []string
	Organization string
	Email        string
}

type Reaction struct {
	MessageID string
	Emoji     string
}

type Poll struct {
	Name            string
	Options         []string
	SelectableCount int
}

// Send is a validated unified send body (§5).
type Send struct {
	ID        string
	To        string
	Type      string
	ReplyTo   string
	Text      string
	Media     *Media
	VoiceNote bool
	Location  *Location
	Contact   *Contact
	Reaction  *Reaction
	Poll      *Poll
}

// ParseObject decodes a JSON object body; anything else is a 422.
func ParseObject(body []byte) (map[string]any, error) {
	if !utf8.Valid(body) {
		return nil, Invalid("The body is not UTF-8 JSON.")
	}
	var value any
	if err := json.Unmarshal(body, &value); err != nil {
		return nil, Invalid("The body is not valid JSON.")
	}
	object, ok := value.(map[string]any)
	if !ok {
		return nil, Invalid("The body must be a JSON object.")
	}
	return object, nil
}

func optionalString(object map[string]any, key, where string) (string, error) {
	value, present := object[key]
	if !present || value == nil {
		return "", nil
	}
	s, ok := value.(string)
	if !ok {
		return "", Invalid("`%s%s` must be a string.", where, key)
	}
	return s, nil
}

func requiredString(object map[string]any, key, where string) (string, error) {
	value, ok := object[key].(string)
	if !ok || value == "" {
		return "", Invalid("`%s%s` must be a non-empty string.", where, key)
	}
	return value, nil
}

// ParseSend validates a unified send body; problems are 422 (or 413 for inline media over the limit).
func ParseSend(body []byte) (*Send, error) {
	object, err := ParseObject(body)
	if err != nil {
		return nil, err
	}
	id, _ := object["id"].(string)
	if id == "" || utf8.RuneCountInString(id) > MaxIDLength {
		return nil, Invalid("`id` must be a string of 1 to %d characters.", MaxIDLength)
	}
	to, _ := object["to"].(string)
	if !IsRecipient(to) {
		return nil, InvalidRecipient("to")
	}
	kind, ok := object["type"].(string)
	if !ok {
		return nil, Invalid("`type` must be a string.")
	}
	supported := false
	for _, t := range MessageTypes {
		supported = supported || t == kind
	}
	if !supported {
		return nil, &Problem{422, "unsupported_message_type", "The whatsmeow worker cannot send messages of type " + quote(kind) + "."}
	}
	send := &Send{ID: id, To: to, Type: kind}
	if send.ReplyTo, err = optionalString(object, "reply_to", ""); err != nil {
		return nil, err
	}
	switch kind {
	case "text":
		text, ok := object["text"].(string)
		if !ok || text == "" || utf8.RuneCountInString(text) > MaxTextLength {
			return nil, Invalid("`text` must be 1 to %d characters.", MaxTextLength)
		}
		send.Text = text
	case "image", "video", "audio", "document", "sticker":
		if send.Media, err = parseMedia(object, kind); err != nil {
			return nil, err
		}
		if kind == "audio" {
			if value, present := object["voice_note"]; present && value != nil {
				voice, ok := value.(bool)
				if !ok {
					return nil, Invalid("`voice_note` must be a boolean.")
				}
				send.VoiceNote = voice
			}
		}
	case "location":
		if send.Location, err = parseLocation(object["location"]); err != nil {
			return nil, err
		}
	case "contact":
		if send.Contact, err = parseContact(object["contact"]); err != nil {
			return nil, err
		}
	case "reaction":
		raw, ok := object["reaction"].(map[string]any)
		if !ok {
			return nil, Invalid("`reaction` must be an object with `message_id` and `emoji`.")
		}
		target, err := requiredString(raw, "message_id", "reaction.")
		if err != nil {
			return nil, err
		}
		emoji, ok := raw["emoji"].(string)
		if !ok {
			return nil, Invalid("`reaction.emoji` must be a string (\"\" removes the reaction).")
		}
		send.Reaction = &Reaction{MessageID: target, Emoji: emoji}
	case "poll":
		if send.Poll, err = parsePoll(object["poll"]); err != nil {
			return nil, err
		}
	}
	return send, nil
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func parseMedia(object map[string]any, kind string) (*Media, error) {
	raw, ok := object["media"].(map[string]any)
	if !ok {
		return nil, Invalid("`media` must be an object with `url` or `base64`.")
	}
	url, err := optionalString(raw, "url", "media.")
	if err != nil {
		return nil, err
	}
	encoded, err := optionalString(raw, "base64", "media.")
	if err != nil {
		return nil, err
	}
	if (url == "") == (encoded == "") {
		return nil, Invalid("`media` must have exactly one of `url` and `base64`.")
	}
	lower := strings.ToLower(url)
	if url != "" && !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		return nil, Invalid("`media.url` must be an http:// or https:// URL.")
	}
	limit := int64(MaxMediaBytes)
	if kind == "document" {
		limit = MaxDocumentBytes
	}
	media := &Media{URL: url, Limit: limit}
	// The protocol lists mimetype, filename and caption beside `media`; accept them inside it too, the media object
	// winning.
	extra := func(key string) (string, error) {
		if value, err := optionalString(raw, key, "media."); err != nil || value != "" {
			return value, err
		}
		return optionalString(object, key, "")
	}
	if media.Mimetype, err = extra("mimetype"); err != nil {
		return nil, err
	}
	if media.Filename, err = extra("filename"); err != nil {
		return nil, err
	}
	// WhatsApp shows captions on images, videos and documents only; elsewhere one is dropped, not an error.
	if kind == "image" || kind == "video" || kind == "document" {
		if media.Caption, err = extra("caption"); err != nil {
			return nil, err
		}
	}
	if encoded != "" {
		// Checked here, not at send time, so a bad body is a 422/413 whatever the connection state.
		if int64(len(encoded))*3/4 > limit+3 {
			return nil, TooLarge(limit)
		}
		if i := strings.Index(encoded, ";base64,"); strings.HasPrefix(encoded, "data:") && i > 0 {
			if media.Mimetype == "" {
				media.Mimetype = encoded[len("data:"):i]
			}
			encoded = encoded[i+len(";base64,"):]
		}
		data, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil {
			return nil, Invalid("`media.base64` is not valid base64.")
		}
		if int64(len(data)) > limit {
			return nil, TooLarge(limit)
		}
		if len(data) == 0 {
			return nil, Invalid("`media.base64` is empty.")
		}
		media.Data = data
	}
	return media, nil
}

func number(value any, name string, bound float64) (float64, error) {
	n, ok := value.(float64)
	if !ok || math.IsNaN(n) || math.IsInf(n, 0) || math.Abs(n) > bound {
		return 0, Invalid("`location.%s` must be a number between -%g and %g.", name, bound, bound)
	}
	return n, nil
}

func parseLocation(value any) (*Location, error) {
	raw, ok := value.(map[string]any)
	if !ok {
		return nil, Invalid("`location` must be an object with `latitude` and `longitude`.")
	}
	var loc Location
	var err error
	if loc.Latitude, err = number(raw["latitude"], "latitude", 90); err != nil {
		return nil, err
	}
	if loc.Longitude, err = number(raw["longitude"], "longitude", 180); err != nil {
		return nil, err
	}
	if loc.Name, err = optionalString(raw, "name", "location."); err != nil {
		return nil, err
	}
	if loc.Address, err = optionalString(raw, "address", "location."); err != nil {
		return nil, err
	}
	return &loc, nil
}

func parseContact(value any) (*Contact, error) {
	raw, ok := value.(map[string]any)
	if !ok {
		return nil, Invalid("`contact` must be an object with `name` and `phones`.")
	}
	name, err := requiredString(raw, "name", "contact.")
	if err != nil {
		return nil, err
	}
	list, ok := raw["phones"].([]any)
	if !ok || len(list) == 0 {
		return nil, Invalid("`contact.phones` must be a non-empty list of strings.")
	}
	contact := &Contact{Name: name}
	for _, item := range list {
		phone, ok := item.(string)
		if !ok || phone == "" {
			return nil, Invalid("`contact.phones` must be a non-empty list of strings.")
		}
		contact.Phones = append(contact.Phones, phone)
	}
	if contact.Organization, err = optionalString(raw, "organization", "contact."); err != nil {
		return nil, err
	}
	if contact.Email, err = optionalString(raw, "email", "contact."); err != nil {
		return nil, err
	}
	return contact, nil
}

func parsePoll(value any) (*Poll, error) {
	raw, ok := value.(map[string]any)
	if !ok {
		return nil, Invalid("`poll` must be an object with `name`, `options` and `selectable_count`.")
	}
	name, err := requiredString(raw, "name", "poll.")
	if err != nil {
		return nil, err
	}
	list, ok := raw["options"].([]any)
	if !ok || len(list) < 2 || len(list) > MaxPollOptions {
		return nil, Invalid("`poll.options` must be a list of 2 to %d strings.", MaxPollOptions)
	}
	poll := &Poll{Name: name, SelectableCount: 1}
	seen := map[string]bool{}
	for _, item := range list {
		option, ok := item.(string)
		if !ok || option == "" || seen[option] {
			return nil, Invalid("`poll.options` must be distinct non-empty strings.")
		}
		seen[option] = true
		poll.Options = append(poll.Options, option)
	}
	if value, present := raw["selectable_count"]; present && value != nil {
		n, ok := value.(float64)
		if !ok || n != math.Trunc(n) || n < 0 || int(n) > len(poll.Options) {
			return nil, Invalid("`poll.selectable_count` must be an integer from 0 (any number) to the number of options.")
		}
		poll.SelectableCount = int(n)
	}
	return poll, nil
}
