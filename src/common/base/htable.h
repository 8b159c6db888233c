/*
 * htable.h - the one in-memory hash table of libsipvault (as redis has one
 * dict): intrusive, chained, power-of-two slots, doubling when the load
 * passes 1.
 *
 * The table stores nodes embedded in the caller's structures and never
 * allocates them; it knows only each node's 64-bit hash. Lookups walk the
 * nodes with a given hash and the caller compares its own keys:
 *
 *	struct call { struct sv_hnode node; char id[64]; };
 *	uint64_t h = sv_hash_bytes(seed, id, len);
 *	for (struct sv_hnode *n = sv_htable_first(&t, h); n != NULL;
 *	     n = sv_htable_next(n, h)) {
 *		struct call *c = sv_container_of(n, struct call, node);
 *		if (strcmp(c->id, id) == 0)
 *			return c;
 *	}
 *
 * A zeroed struct sv_htable is an empty table (no init call needed); the
 * slot array is allocated by the first insert. Removal is O(1). The table
 * never shrinks; sv_htable_release() frees the slots (not the nodes).
 * Growing is all at once and skipped when memory is short (chains just get
 * longer), so an insert fails only when the very first slot array cannot be
 * allocated.
 */
#ifndef SV_HTABLE_H
#define SV_HTABLE_H

#include <stddef.h>
#include <stdint.h>

#define sv_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

struct sv_hnode {
	struct sv_hnode *next;
	struct sv_hnode **pprev; /* the pointer that points at this node */
	uint64_t hash;
};

struct sv_htable {
	struct sv_hnode **slots; /* NULL until the first insert */
	size_t mask;             /* slots - 1 */
	size_t count;
	size_t min_slots; /* optional size of the first slot array (power of two) */
};

/* Add node n under hash (duplicates allowed). 0, or -ENOMEM when the table
 * has no slot array and none can be allocated (n is then not linked). */
int sv_htable_insert(struct sv_htable *t, struct sv_hnode *n, uint64_t hash);

/* Sizes the first slot array for n entries before any insert: min_slots
 * becomes the smallest power of two that is at least 16 and at least n, but
 * no more than max (a power of two). */
void sv_htable_presize(struct sv_htable *t, size_t n, size_t max);

/* Unlink n, which must be in t. */
void sv_htable_remove(struct sv_htable *t, struct sv_hnode *n);

/* The first node with this hash, or NULL. */
static inline struct sv_hnode *sv_htable_first(const struct sv_htable *t, uint64_t hash)
{
	if (t->slots == NULL)
		return NULL;
	for (struct sv_hnode *n = t->slots[hash & t->mask]; n != NULL; n = n->next)
		if (n->hash == hash)
			return n;
	return NULL;
}

/* The next node after n with the same hash, or NULL. */
static inline struct sv_hnode *sv_htable_next(const struct sv_hnode *n, uint64_t hash)
{
	for (n = n->next; n != NULL; n = n->next)
		if (n->hash == hash)
			return (struct sv_hnode *)n;
	return NULL;
}

/*
 * Every node, in no particular order:
 *
 *	struct sv_hwalk w = {0};
 *	for (struct sv_hnode *n; (n = sv_htable_walk(&t, &w)) != NULL;)
 *
 * The node returned may be removed (and freed) before the next call;
 * nothing may be inserted during a walk.
 */
struct sv_hwalk {
	size_t slot;
	struct sv_hnode *next;
};
struct sv_hnode *sv_htable_walk(const struct sv_htable *t, struct sv_hwalk *w);

static inline size_t sv_htable_count(const struct sv_htable *t)
{
	return t->count;
}

/* Bytes the table itself holds (the slot array). */
static inline size_t sv_htable_bytes(const struct sv_htable *t)
{
	return t->slots != NULL ? (t->mask + 1) * sizeof(*t->slots) : 0;
}

/* Free the slot array; the table is empty and reusable afterwards. The nodes
 * are the caller's: walk and free them first if they are owned. */
void sv_htable_release(struct sv_htable *t);

#endif
