\set id random(0, 24)
SELECT n_nationkey, n_name, n_regionkey FROM tpch.nation WHERE n_nationkey = :id AND n_regionkey >= 0;
