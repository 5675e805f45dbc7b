// Co-buy intentions per MIND relation and the share the role-aware filter kept (RFP rate).
MATCH (i:Intention)
WHERE i.kind = 'cobuy'
RETURN i.relation AS relation,
       count(i) AS intentions,
       toInteger(sum(CASE WHEN i.accepted = true THEN 1 ELSE 0 END)) AS accepted,
       toInteger(sum(CASE WHEN i.accepted IS NULL THEN 1 ELSE 0 END)) AS unfiltered
ORDER BY relation
