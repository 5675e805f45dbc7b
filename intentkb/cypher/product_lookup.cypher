// Products whose title contains the words of $key (case-insensitive), shortest title first: suggestions for an unknown product.  params: $key, $limit
MATCH (p:Product)
WHERE toLower(p.title) CONTAINS toLower($key)
RETURN p.id AS id, p.title AS title, toLower(p.title) = toLower($key) AS exact
ORDER BY exact DESC, size(p.title), id
LIMIT $limit
