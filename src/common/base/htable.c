/*
 * htable.c - intrusive chained hash table; see htable.h.
 */
#include "base/htable.h"

#include <errno.h>
#include <stdlib.h>

#define HTABLE_MIN_SLOTS 16

static void link_node(struct sv_hnode **slot, struct sv_hnode *n)
{
	n->next = *slot;
	if (n->next != NULL)
		n->next->pprev = &n->next;
	n->pprev = slot;
	*slot = n;
}

/* Double the slot array; on allocation failure keep the old one. */
static void grow(struct sv_htable *t)
{
	size_t nslots = (t->mask + 1) * 2;
	struct sv_hnode **slots = calloc(nslots, sizeof(*slots));

	if (slots == NULL)
		return;
	for (size_t i = 0; i <= t->mask; i++) {
		struct sv_hnode *n = t->slots[i];
		while (n != NULL) {
			struct sv_hnode *next = n->next;
			link_node(&slots[n->hash & (nslots - 1)], n);
			n = next;
		}
	}
	free(t->slots);
	t->slots = slots;
	t->mask = nslots - 1;
}

void sv_htable_presize(struct sv_htable *t, size_t n, size_t max)
{
	t->min_slots = 16;
	while (t->min_slots < n && t->min_slots < max)
		t->min_slots <<= 1;
}

int sv_htable_insert(struct sv_htable *t, struct sv_hnode *n, uint64_t hash)
{
	if (t->slots == NULL) {
		size_t nslots = HTABLE_MIN_SLOTS;
		while (nslots < t->min_slots)
			nslots *= 2;
		t->slots = calloc(nslots, sizeof(*t->slots));
		if (t->slots == NULL)
			return -ENOMEM;
		t->mask = nslots - 1;
	} else if (t->count > t->mask) {
		grow(t);
	}
	n->hash = hash;
	link_node(&t->slots[hash & t->mask], n);
	t->count++;
	return 0;
}

void sv_htable_remove(struct sv_htable *t, struct sv_hnode *n)
{
	*n->pprev = n->next;
	if (n->next != NULL)
		n->next->pprev = n->pprev;
	n->next = NULL;
	n->pprev = NULL;
	t->count--;
}

struct sv_hnode *sv_htable_walk(const struct sv_htable *t, struct sv_hwalk *w)
{
	struct sv_hnode *n = w->next;

	if (t->slots == NULL)
		return NULL;
	while (n == NULL) {
		if (w->slot > t->mask)
			return NULL;
		n = t->slots[w->slot++];
	}
	w->next = n->next;
	return n;
}

void sv_htable_release(struct sv_htable *t)
{
	free(t->slots);
	t->slots = NULL;
	t->mask = 0;
	t->count = 0;
}
