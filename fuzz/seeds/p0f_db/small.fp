classes = win,unix
[tcp:request]
label = s:unix:Linux:3.x
sig = *:64:0:*:mss*20,7:mss,sok,ts,nop,ws:df,id+:0
[mtu]
label = Ethernet
sig = 1500
