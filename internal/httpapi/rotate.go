package httpapi

import (
	"net/http"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// rotateKey handles POST …/subscriptions/{id}/rotate-key: a new signing
// key, made as a create makes one; the old one keeps signing, as the
// previous key, for the overlap of the body or the subscription's
// settings. Deliveries read the keys from the subscription when they are
// claimed, so nothing else needs telling; with the operator event sink on,
// a key_rotated notice for it is queued with the new key, atomically.
func (h extHandlers) rotateKey(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	_, s, err := h.liveCall(r, p)
	if err != nil {
		return err
	}
	var req struct {
		Overlap *string `json:"overlap"`
	}
	if err := h.readOptionalObject(w, r, &req); err != nil {
		return err
	}
	overlap := s.Settings.RotationOverlap
	if req.Overlap != nil {
		if overlap, err = parseOverlap("overlap", *req.Overlap); err != nil {
			return err
		}
	}
	now := h.cfg.Now().UTC()
	s.Rotate(signing.NewKey(), now, overlap)
	var notices []webhook.Notice
	if h.cfg.OperatorSink {
		notices = append(notices, *s.KeyRotatedNotice(now))
	}
	if err := h.st.SaveSigning(r.Context(), s, notices...); err != nil {
		return err
	}
	if h.cfg.KeysChanged != nil {
		h.cfg.KeysChanged(s.UUID)
	}
	writeJSON(w, http.StatusOK, struct {
		SigningKey         string `json:"signingKey"`
		PreviousKeyExpires string `json:"previousKeyExpires"`
	}{s.SigningKey, stamp(s.PreviousKeyExpires)})
	return nil
}

// getSettings handles GET …/subscriptions/{id}/settings.
func (h extHandlers) getSettings(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	_, s, err := h.liveCall(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toSettingsJSON(s))
	return nil
}

// putSettings handles PUT …/subscriptions/{id}/settings: the fields
// present replace the stored ones; standardWebhooksSecret is read-only and
// ignored. Zettle's updated time is left as it is.
func (h extHandlers) putSettings(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	_, s, err := h.liveCall(r, p)
	if err != nil {
		return err
	}
	var req struct {
		StrictOrder      *bool   `json:"strictOrder"`
		StandardWebhooks *bool   `json:"standardWebhooks"`
		RotationOverlap  *string `json:"rotationOverlap"`
	}
	if err := h.readObject(w, r, &req); err != nil {
		return err
	}
	if req.RotationOverlap != nil {
		if s.Settings.RotationOverlap, err = parseOverlap("rotationOverlap", *req.RotationOverlap); err != nil {
			return err
		}
	}
	if req.StrictOrder != nil {
		s.Settings.StrictOrder = *req.StrictOrder
	}
	if req.StandardWebhooks != nil {
		s.Settings.StandardWebhooks = *req.StandardWebhooks
	}
	if err := h.st.SaveSettings(r.Context(), s.UUID, s.Settings); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toSettingsJSON(s))
	return nil
}
