package commerce

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// settingsPatch is the body of PATCH /api/channels/{slug}/settings. The
// retention is kept raw to tell an absent field (unchanged) from null
// (keep forever).
type settingsPatch struct {
	Record        *bool           `json:"record"`
	RetentionDays json.RawMessage `json:"recording_retention_days"`
}

// errAPIRetention is a retention out of range.
var errAPIRetention = apiInvalid("recording_retention_days",
	fmt.Sprintf("녹화 보관 기간은 1일에서 %d일 사이로 정하거나, 영구 보관하려면 비워 두세요.", MaxRetentionDays),
	fmt.Sprintf("recording_retention_days must be from 1 to %d, or null (or 0) to keep recordings forever.", MaxRetentionDays))

func (a *API) getSettings(w http.ResponseWriter, r *http.Request, ch Channel) {
	st, err := a.store.ChannelSettings(r.Context(), ch.Slug)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	apiWriteJSON(w, http.StatusOK, settingsJSON(st))
}

func (a *API) patchSettings(w http.ResponseWriter, r *http.Request, ch Channel) {
	var p settingsPatch
	if err := apiDecodeJSON(w, r, &p); err != nil {
		a.fail(w, r, err)
		return
	}
	c := SettingsChange{Record: p.Record}
	if p.RetentionDays != nil {
		days := 0
		if s := strings.TrimSpace(string(p.RetentionDays)); s != "null" {
			n, err := strconv.Atoi(s)
			if err != nil {
				a.fail(w, r, errAPIRetention)
				return
			}
			days = n
		}
		if days < 0 || days > MaxRetentionDays {
			a.fail(w, r, errAPIRetention)
			return
		}
		c.RetentionDays = &days
	}
	st, err := a.store.ChangeSettings(r.Context(), ch.Slug, c)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	apiWriteJSON(w, http.StatusOK, settingsJSON(st))
}

// settingsJSON shows keeping forever as null, as the client sets it.
func settingsJSON(st ChannelSettings) map[string]any {
	var days any
	if st.RetentionDays != 0 {
		days = st.RetentionDays
	}
	return map[string]any{"record": st.Record, "recording_retention_days": days}
}

// replayOrderBody is the body of POST .../broadcasts/{id}/orders: the
// room's order.place, with the command id in it.
type replayOrderBody struct {
	ID    string `json:"id"`
	Items []struct {
		ProductID *int64 `json:"product_id"`
		Qty       *int   `json:"qty"`
	} `json:"items"`
	// Known only to refuse it clearly, rather than as an unknown field.
	CouponID *int64 `json:"coupon_id"`
	Buyer    *struct {
		Name  *string `json:"name"`
		Phone *string `json:"phone"`
	} `json:"buyer"`
	Note string `json:"note"`
}

// placeReplayOrder places an order from a broadcast's replay page. It is
// public, as the replay document is: replay customers have no account, as
// live ones have none. A retry with the same id gets the same order back
// (200 rather than 201) and orders nothing more.
func (a *API) placeReplayOrder(w http.ResponseWriter, r *http.Request) {
	id, err := apiPathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ch, err := a.store.Channel(r.Context(), r.PathValue("slug"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var body replayOrderBody
	if err := apiDecodeJSON(w, r, &body); err != nil {
		a.fail(w, r, err)
		return
	}
	if body.CouponID != nil {
		a.fail(w, r, apiInvalid("coupon_id", "다시보기 주문에는 쿠폰을 쓸 수 없습니다.",
			"Coupons cannot be used in orders from a replay."))
		return
	}
	if len(body.Items) == 0 {
		a.fail(w, r, apiInvalid("items", "상품을 하나 이상 담아 주세요.", "An order needs at least one item."))
		return
	}
	in := OrderInput{BroadcastID: id, Note: body.Note}
	for i, it := range body.Items {
		field := "items[" + strconv.Itoa(i) + "]"
		if it.ProductID == nil || *it.ProductID <= 0 {
			a.fail(w, r, apiInvalid(field+".product_id", "상품 번호가 필요합니다.", "product_id is required."))
			return
		}
		if it.Qty == nil || *it.Qty < 1 || *it.Qty > maxLineQty {
			a.fail(w, r, apiInvalid(field+".qty", fmt.Sprintf("수량은 1에서 %d 사이여야 합니다.", maxLineQty),
				fmt.Sprintf("qty must be from 1 to %d.", maxLineQty)))
			return
		}
		in.Items = append(in.Items, ItemInput{ProductID: *it.ProductID, Qty: *it.Qty})
	}
	switch {
	case body.Buyer == nil || body.Buyer.Name == nil || strings.TrimSpace(*body.Buyer.Name) == "":
		a.fail(w, r, apiInvalid("buyer.name", "주문자 이름을 적어 주세요.", "buyer.name is required."))
		return
	case body.Buyer.Phone == nil:
		a.fail(w, r, apiInvalid("buyer.phone", "연락처를 적어 주세요.", "buyer.phone is required."))
		return
	}
	if _, err := cleanPhone(*body.Buyer.Phone); err != nil {
		a.fail(w, r, apiInvalid("buyer.phone", "연락처는 숫자 8~15자리입니다.", "buyer.phone must have 8 to 15 digits."))
		return
	}
	in.Buyer = Buyer{Name: *body.Buyer.Name, Phone: *body.Buyer.Phone}
	o, err := a.store.PlaceReplayOrder(r.Context(), body.ID, ch.ID, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	status := http.StatusCreated
	if o.Replayed {
		status = http.StatusOK
	} else if a.OrderPlaced != nil {
		a.OrderPlaced(ch.Slug, o)
	}
	apiWriteJSON(w, status, o)
}
