/*
 * smdp_state.c - the SM-DP+ state machines (profile and order) and the
 * smdp_store_*() wrappers that dispatch to a backend.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smdp_store.h"

const char *smdp_strerror(int err)
{
    switch (err) {
    case SMDP_ERR_EXISTS: return "already exists";
    case SMDP_ERR_DB: return "database error";
    default: return rsp_strerror(err);
    }
}

static const char *const profile_state_names[SMDP_PROFILE_STATE_MAX + 1] = {
    [SMDP_PROFILE_AVAILABLE] = "Available",
    [SMDP_PROFILE_ALLOCATED] = "Allocated",
    [SMDP_PROFILE_LINKED] = "Linked",
    [SMDP_PROFILE_CONFIRMED] = "Confirmed",
    [SMDP_PROFILE_RELEASED] = "Released",
    [SMDP_PROFILE_DOWNLOADED] = "Downloaded",
    [SMDP_PROFILE_INSTALLED] = "Installed",
    [SMDP_PROFILE_ERROR] = "Error",
    [SMDP_PROFILE_UNAVAILABLE] = "Unavailable",
};

const char *smdp_profile_state_name(int state)
{
    if (state < 1 || state > SMDP_PROFILE_STATE_MAX)
        return "?";
    return profile_state_names[state];
}

int smdp_profile_state_parse(const char *name)
{
    if (!name)
        return RSP_ERR_INVAL;
    for (int i = 1; i <= SMDP_PROFILE_STATE_MAX; i++)
        if (strcasecmp(name, profile_state_names[i]) == 0)
            return i;
    return RSP_ERR_INVAL;
}

#define BIT(s) (1u << (s))
/*
 * The legal profile transitions, one row per source state (SGP.22 v2.5).
 * Sources of each edge are in spec-notes/smdp.md; in short:
 *  DownloadOrder (§5.3.1): Available -> Allocated (no EID) | Linked (EID).
 *  ConfirmOrder (§5.3.2): Allocated|Linked -> Confirmed | Released
 *    (releaseFlag).
 *  ReleaseProfile (§5.3.4): Confirmed -> Released.
 *  CancelOrder (§5.3.3): Allocated|Linked|Confirmed|Released|Error ->
 *    Available | Unavailable (finalProfileStatusIndicator).
 *  Download (§3.1.3): Released -> Downloaded (BPP handed out) -> Installed
 *    (successful ProfileInstallationResult) | Error.
 *  Failure (§3.1.3 CancelSession, wrong confirmation codes, expiry): any
 *    state of an ongoing order -> Error.
 *  Downloaded -> Released: a download that failed before installation may
 *    be retried while retries remain (§3.1.3 retry rules; our reading).
 *  Available -> Unavailable: the operator withdraws a profile (local).
 * Installed and Unavailable are final.
 */
static const unsigned profile_edges[SMDP_PROFILE_STATE_MAX + 1] = {
    [SMDP_PROFILE_AVAILABLE] = BIT(SMDP_PROFILE_ALLOCATED) | BIT(SMDP_PROFILE_LINKED) |
                               BIT(SMDP_PROFILE_UNAVAILABLE),
    [SMDP_PROFILE_ALLOCATED] = BIT(SMDP_PROFILE_CONFIRMED) | BIT(SMDP_PROFILE_RELEASED) |
                               BIT(SMDP_PROFILE_AVAILABLE) | BIT(SMDP_PROFILE_UNAVAILABLE) |
                               BIT(SMDP_PROFILE_ERROR),
    [SMDP_PROFILE_LINKED] = BIT(SMDP_PROFILE_CONFIRMED) | BIT(SMDP_PROFILE_RELEASED) |
                            BIT(SMDP_PROFILE_AVAILABLE) | BIT(SMDP_PROFILE_UNAVAILABLE) |
                            BIT(SMDP_PROFILE_ERROR),
    [SMDP_PROFILE_CONFIRMED] = BIT(SMDP_PROFILE_RELEASED) | BIT(SMDP_PROFILE_AVAILABLE) |
                               BIT(SMDP_PROFILE_UNAVAILABLE) | BIT(SMDP_PROFILE_ERROR),
    [SMDP_PROFILE_RELEASED] = BIT(SMDP_PROFILE_DOWNLOADED) | BIT(SMDP_PROFILE_AVAILABLE) |
                              BIT(SMDP_PROFILE_UNAVAILABLE) | BIT(SMDP_PROFILE_ERROR),
    [SMDP_PROFILE_DOWNLOADED] = BIT(SMDP_PROFILE_INSTALLED) | BIT(SMDP_PROFILE_ERROR) |
                                BIT(SMDP_PROFILE_RELEASED),
    [SMDP_PROFILE_INSTALLED] = 0,
    [SMDP_PROFILE_ERROR] = BIT(SMDP_PROFILE_AVAILABLE) | BIT(SMDP_PROFILE_UNAVAILABLE),
    [SMDP_PROFILE_UNAVAILABLE] = 0,
};

int smdp_profile_transition_legal(int from, int to)
{
    if (from < 1 || from > SMDP_PROFILE_STATE_MAX || to < 1 || to > SMDP_PROFILE_STATE_MAX)
        return 0;
    return (profile_edges[from] & BIT(to)) != 0;
}

const char *smdp_order_state_name(int state)
{
    switch (state) {
    case SMDP_ORDER_ACTIVE: return "active";
    case SMDP_ORDER_DONE: return "done";
    case SMDP_ORDER_CANCELLED: return "cancelled";
    case SMDP_ORDER_FAILED: return "failed";
    case SMDP_ORDER_EXPIRED: return "expired";
    default: return "?";
    }
}

int smdp_order_transition_legal(int from, int to)
{
    return from == SMDP_ORDER_ACTIVE && to >= SMDP_ORDER_DONE && to <= SMDP_ORDER_EXPIRED;
}

void smdp_profile_clear(struct smdp_profile *p)
{
    if (!p)
        return;
    free(p->icon);
    free(p->notif_config);
    free(p->package);
    memset(p, 0, sizeof(*p));
    p->icon_type = -1;
}

/* Wrappers: the only entry points handlers use. */
void smdp_store_close(struct smdp_store *s)
{
    if (s)
        s->ops->close(s);
}

int smdp_store_operator_add(struct smdp_store *s, const struct smdp_operator *op)
{
    return s && op ? s->ops->operator_add(s, op) : RSP_ERR_INVAL;
}

int smdp_store_operator_get(struct smdp_store *s, const char *id, struct smdp_operator *out)
{
    return s && id && out ? s->ops->operator_get(s, id, out) : RSP_ERR_INVAL;
}

int smdp_store_operator_list(struct smdp_store *s, smdp_operator_cb cb, void *arg)
{
    return s && cb ? s->ops->operator_list(s, cb, arg) : RSP_ERR_INVAL;
}

int smdp_store_operator_by_cert(struct smdp_store *s, const uint8_t sha256[32],
                                struct smdp_operator *out)
{
    return s && sha256 && out ? s->ops->operator_by_cert(s, sha256, out) : RSP_ERR_INVAL;
}

int smdp_store_profile_import(struct smdp_store *s, const struct smdp_profile *p)
{
    return s && p ? s->ops->profile_import(s, p) : RSP_ERR_INVAL;
}

int smdp_store_profile_get(struct smdp_store *s, const char *iccid, int with_package,
                           struct smdp_profile *out)
{
    return s && iccid && out ? s->ops->profile_get(s, iccid, with_package, out) : RSP_ERR_INVAL;
}

int smdp_store_profile_list(struct smdp_store *s, const char *operator_id,
                            smdp_profile_cb cb, void *arg)
{
    return s && cb ? s->ops->profile_list(s, operator_id, cb, arg) : RSP_ERR_INVAL;
}

int smdp_store_profile_transition(struct smdp_store *s, const char *iccid, int from, int to)
{
    if (!s || !iccid)
        return RSP_ERR_INVAL;
    if (!smdp_profile_transition_legal(from, to))
        return RSP_ERR_STATE;
    return s->ops->profile_transition(s, iccid, from, to);
}

int smdp_store_order_create(struct smdp_store *s, struct smdp_order *o)
{
    return s && o ? s->ops->order_create(s, o) : RSP_ERR_INVAL;
}

int smdp_store_order_get(struct smdp_store *s, int key, const char *value,
                         struct smdp_order *out)
{
    return s && value && out ? s->ops->order_get(s, key, value, out) : RSP_ERR_INVAL;
}

int smdp_store_order_list(struct smdp_store *s, smdp_order_cb cb, void *arg)
{
    return s && cb ? s->ops->order_list(s, cb, arg) : RSP_ERR_INVAL;
}

int smdp_store_order_transition(struct smdp_store *s, const char *matching_id,
                                int order_from, int order_to,
                                int profile_from, int profile_to)
{
    if (!s || !matching_id)
        return RSP_ERR_INVAL;
    if (order_from != order_to && !smdp_order_transition_legal(order_from, order_to))
        return RSP_ERR_STATE;
    if (profile_to != 0 && !smdp_profile_transition_legal(profile_from, profile_to))
        return RSP_ERR_STATE;
    return s->ops->order_transition(s, matching_id, order_from, order_to,
                                    profile_from, profile_to);
}

int smdp_store_order_confirm(struct smdp_store *s, const char *matching_id,
                             const struct smdp_confirm *c)
{
    if (!s || !matching_id || !c ||
        (c->profile_from != SMDP_PROFILE_ALLOCATED && c->profile_from != SMDP_PROFILE_LINKED) ||
        (c->profile_to != SMDP_PROFILE_CONFIRMED && c->profile_to != SMDP_PROFILE_RELEASED) ||
        (c->eid && strlen(c->eid) > 32) ||
        (c->matching_id && strlen(c->matching_id) > SMDP_MID_MAX) ||
        (c->cc_hash && (c->cc_limit == 0 || c->cc_limit > 1000)))
        return RSP_ERR_INVAL;
    if (!smdp_profile_transition_legal(c->profile_from, c->profile_to))
        return RSP_ERR_STATE;
    return s->ops->order_confirm(s, matching_id, c);
}

int smdp_store_cc_attempt(struct smdp_store *s, const char *matching_id, int correct,
                          int *outcome)
{
    return s && matching_id && outcome ? s->ops->cc_attempt(s, matching_id, correct, outcome)
                                       : RSP_ERR_INVAL;
}

int smdp_store_session_create(struct smdp_store *s, const char *matching_id,
                              const char *transaction_id, int64_t expires)
{
    return s && matching_id && transaction_id
               ? s->ops->session_create(s, matching_id, transaction_id, expires)
               : RSP_ERR_INVAL;
}

int smdp_store_session_bind(struct smdp_store *s, const char *transaction_id,
                            const struct smdp_binding *b)
{
    if (!s || !transaction_id || !b || !b->otpk || !b->otpk_len ||
        b->otpk_len > SMDP_OTPK_MAX || !b->euicc_pk || !b->euicc_pk_len ||
        b->euicc_pk_len > SMDP_EUICC_PK_MAX || !b->eid || strlen(b->eid) > 32 ||
        (b->profile_to && !smdp_profile_transition_legal(b->profile_from, b->profile_to)))
        return RSP_ERR_INVAL;
    return s->ops->session_bind(s, transaction_id, b);
}

int smdp_store_expire(struct smdp_store *s, int64_t now, unsigned *n_sessions,
                      unsigned *n_orders)
{
    return s ? s->ops->expire(s, now, n_sessions, n_orders) : RSP_ERR_INVAL;
}
