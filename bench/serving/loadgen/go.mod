module mobius/bench/serving/loadgen

go 1.22
