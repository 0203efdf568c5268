/*
 * A small string-keyed hash map: open addressing, linear probing,
 * backward-shift deletion (no tombstones), grown at 3/4 load. Keys are
 * borrowed, not copied. Used for route snapshots, the app registry and
 * each worker's upstream pools.
 */
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

/* FNV-1a */
uint32_t
map_hash(const char *key, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 16777619u;
	}
	return h;
}

static bool
map_slot_is(const struct map_slot *s, const char *key, size_t len,
    uint32_t h)
{
	return s->hash == h && strncmp(s->key, key, len) == 0 &&
	    s->key[len] == '\0';
}

static int
map_grow(struct map *m)
{
	size_t cap = m->cap == 0 ? 16 : m->cap * 2;
	struct map_slot *slots = calloc(cap, sizeof(*slots));

	if (slots == NULL)
		return -1;
	for (size_t i = 0; i < m->cap; i++) {
		struct map_slot *s = &m->slots[i];
		size_t j;

		if (s->key == NULL)
			continue;
		for (j = s->hash & (cap - 1); slots[j].key != NULL;
		    j = (j + 1) & (cap - 1))
			;
		slots[j] = *s;
	}
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
	return 0;
}

int
map_put(struct map *m, const char *key, void *val)
{
	size_t len = strlen(key), i;
	uint32_t h = map_hash(key, len);

	if ((m->len + 1) * 4 > m->cap * 3 && map_grow(m) < 0)
		return -1;
	for (i = h & (m->cap - 1); m->slots[i].key != NULL;
	    i = (i + 1) & (m->cap - 1)) {
		if (map_slot_is(&m->slots[i], key, len, h)) {
			m->slots[i].key = key;
			m->slots[i].val = val;
			return 0;
		}
	}
	m->slots[i].key = key;
	m->slots[i].hash = h;
	m->slots[i].val = val;
	m->len++;
	return 0;
}

static struct map_slot *
map_find(const struct map *m, const char *key, size_t len)
{
	uint32_t h;

	if (m->len == 0)
		return NULL;
	h = map_hash(key, len);
	for (size_t i = h & (m->cap - 1); m->slots[i].key != NULL;
	    i = (i + 1) & (m->cap - 1))
		if (map_slot_is(&m->slots[i], key, len, h))
			return &m->slots[i];
	return NULL;
}

void *
map_get(const struct map *m, const char *key, size_t len)
{
	struct map_slot *s = map_find(m, key, len);

	return s != NULL ? s->val : NULL;
}

void *
map_del(struct map *m, const char *key)
{
	struct map_slot *s = map_find(m, key, strlen(key));
	size_t i, j, mask = m->cap - 1;
	void *val;

	if (s == NULL)
		return NULL;
	val = s->val;
	i = (size_t)(s - m->slots);
	/* Shift later members of the probe run back into the hole. */
	for (j = (i + 1) & mask; m->slots[j].key != NULL; j = (j + 1) & mask) {
		size_t home = m->slots[j].hash & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].key = NULL;
	m->slots[i].val = NULL;
	m->len--;
	return val;
}

struct map_slot *
map_next(const struct map *m, size_t *i)
{
	while (*i < m->cap) {
		struct map_slot *s = &m->slots[(*i)++];

		if (s->key != NULL)
			return s;
	}
	return NULL;
}

void
map_free(struct map *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->len = 0;
}
