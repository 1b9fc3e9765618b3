package narrate

// zh is the Chinese catalogue (简体中文), phrase for phrase the same as en,
// with the same placeholders.
var zh = map[string]string{
	// 角色
	"role.client": "客户端",
	"role.server": "服务器",

	// TCP 报文段：它是什么
	"pkt.syn":              "{src} 请求建立连接：SYN，seq {seq}，即它的初始序列号（相对序号从它算起）。SYN 占用一个序列号，所以 {src} 的第一个数据字节是 {next}。",
	"pkt.syn.again":        "同一个 SYN 又发了一次（seq {seq}）：SYN-ACK 没有及时回来，内核重传了它。",
	"pkt.synack":           "{src} 回复 SYN-ACK：它自己的 SYN（seq {seq}，占用一个序列号）和 ACK {ack} = 对方的 seq 0 + 1（对方的 SYN）。这是内核自己回复的：握手不需要调用 accept()。",
	"pkt.data":             "{src} 发送 {len} 字节数据：字节流的第 {first}–{last} 字节（seq {seq}:{end}）；{src} 的下一个字节是 {end}。",
	"pkt.fin":              "{src} 发出 FIN：它不再发送数据。FIN 占用一个序列号：它位于 seq {end}，所以 {src} 的下一个序号是 {next}。",
	"pkt.fin.data":         "最后 {len} 字节（seq {seq}:{end}）搭载在同一个报文段上。",
	"pkt.ack":              "{src} 发出的纯 ACK：没有数据，只有确认。",
	"pkt.rst":              "{src} 发出 RST：连接被立即中止。双方不经过关闭握手、也不进入 TIME_WAIT 就丢弃连接；尚未读取的数据会丢失。",
	"pkt.rst.refused":      "{src} 发出 RST：那里没有程序在监听，内核拒绝连接，客户端的 connect() 以 ECONNREFUSED 失败。",
	"pkt.udp":              "从 {src} 到 {dst} 的 UDP 数据报，{len} 字节：没有连接、没有序列号、没有确认；如果丢失，没有人会重发。",
	"pkt.icmp.unreachable": "关于数据报 {src} → {dst} 的 ICMP 端口不可达：{dst} 上没有程序在监听，接收方内核用这个错误作答；发送方在下一次调用时得到 ECONNREFUSED。",
	"pkt.icmp":             "ICMP：{info}。",
	"pkt.other":            "一个 {proto} 包（{info}），不是 TCP 或 UDP。",
	"pkt.error":            "这一帧无法完全解码：{error}。",

	// TCP 报文段：确认号的含义
	"ack.syn":         "ACK {ack} = 对方的 seq {pseq} + 1（对方的 SYN）：三次握手完成。",
	"ack.data":        "ACK {ack} = 对方的 seq {pseq} + 收到的 {plen} 字节。",
	"ack.data.fin":    "ACK {ack} = 对方的 seq {pseq} + {plen} 字节 + 1（对方的 FIN）。",
	"ack.fin":         "ACK {ack} = 对方位于 seq {pseq} 的 FIN + 1：FIN 占用一个序列号。",
	"ack.fin.delayed": "ACK {ack} = 对方位于 seq {pseq} 的 FIN + 1。对方 FIN 的确认被延迟了，搭载在这个 FIN 上，所以“四次挥手”只用了三个报文段。",
	"ack.cumulative":  "ACK {ack}：{src} 已经收到了 {ack} 之前的所有字节。",

	// Wireshark 的分析标记
	"flag.retransmission":      "重传：这段序列号空间之前发过，但没有及时得到确认，内核又发了一次。",
	"flag.fast-retransmission": "快速重传：重复 ACK 一再请求 seq {seq}，内核没有等待重传定时器就重发了它。",
	"flag.dup-ack":             "重复 ACK：又一次 ACK {ack}，不带数据：{src} 仍缺第 {ack} 字节，而后面的数据已经到达。",
	"flag.out-of-order":        "乱序：这段较早的数据在较新的数据之后不久到达。",
	"flag.lost-segment":        "前一个报文段未被捕获：seq {seq} 之前有一段空缺。",
	"flag.zero-window":         "零窗口：{src} 的接收缓冲区满了；对方必须停止发送，直到窗口重新打开。",
	"flag.window-update":       "窗口更新：只有窗口变了（{win}）；对方可以继续发送。",
	"flag.keep-alive":          "保活探测：seq {seq} 比下一个字节小 1，不带新数据：对方还在吗？",
	"flag.keep-alive-ack":      "对保活探测的回答：对方还活着。",

	// 谁发的
	"by.call":          "是{who}的第 {id} 号调用 {op}() 把它发到网络上的。",
	"by.kernel":        "没有调用发送它：是内核自己发的。",
	"by.kernel.resent": "没有调用发送它：是内核自己重发的。",

	// 从报文段推断出的状态变化
	"state.SYN_SENT":              "{ep} 发出了 SYN：SYN_SENT，等待 SYN-ACK。",
	"state.SYN_RECV":              "{ep} 回复了 SYN：SYN_RECV，等待对其 SYN-ACK 的确认。它只持续一个往返时间，在回环接口上只有几微秒，内核里从来采样不到：这个状态是推断出来的。",
	"state.SYN_RECV.simultaneous": "{ep} 在自己的 SYN 发出后收到了一个 SYN（同时打开）：SYN_RECV。",
	"state.ESTABLISHED":           "{ep} 进入 ESTABLISHED：双方的 SYN 都已被确认，数据可以双向流动。",
	"state.FIN_WAIT1":             "{ep} 发出了 FIN：FIN_WAIT1，等待对它的确认。",
	"state.FIN_WAIT2":             "{ep} 的 FIN 已被确认：FIN_WAIT2，等待对方的 FIN。它仍然可以接收数据（半关闭）。",
	"state.FIN_WAIT2.passing":     "对 {ep} 的 FIN 的确认到了，所以它进入 FIN_WAIT2；同一个报文段还带着对方的 FIN，所以 FIN_WAIT2 一瞬即逝。",
	"state.CLOSE_WAIT":            "{ep} 收到了对方的 FIN：CLOSE_WAIT。它的程序调用 recv() 会返回 0；程序应当关闭套接字。",
	"state.LAST_ACK":              "{ep} 后关闭：它的 FIN 已发出，在 LAST_ACK 中等待最后一个 ACK。这只持续一个往返时间，是推断出来的，从未被采样到。",
	"state.CLOSING":               "两个 FIN 交叉而过（同时关闭）：{ep} 在 CLOSING 中等待对其 FIN 的确认。",
	"state.TIME_WAIT":             "{ep} 先关闭，所以它要在 TIME_WAIT 中等待 60 秒（Linux 的 2×MSL），之后这个四元组才能再用：如果它最后的 ACK 丢了，对方的 FIN 会再来一次，还能得到回答。",
	"state.TIME_WAIT.closing":     "对 {ep} 的 FIN 的确认到了：同时关闭之后，双方都在 TIME_WAIT 中等待 60 秒。",
	"state.CLOSED":                "{ep} 进入 CLOSED。",
	"state.CLOSED.lastack":        "最后一个 ACK 到了：{ep} 进入 CLOSED；这一端的连接结束了。",
	"state.CLOSED.reset":          "RST 立即关闭了 {ep}：CLOSED。",
	"state.CLOSED.refused":        "{ep} 的 SYN 被拒绝：CLOSED，connect() 以 ECONNREFUSED 失败。",
	"state.LISTEN":                "{ep} 在监听：LISTEN。",
	"state.other":                 "{ep}：{from} → {to}。",

	// 内核报告的状态
	"state.kernel":       "内核自己报告 {ep} 处于 {to}，是在调用刚返回时读取的（对套接字用 TCP_INFO，关闭后用 sock_diag）。",
	"state.kernel.timer": "它的定时器还剩 {left} 秒。",

	// 套接字调用
	"call.socket":          "socket() 创建了一个 {type} 套接字，fd {ret}：还没有地址，也没有连接（CLOSED）。",
	"call.bind":            "bind() 给 fd {fd} 绑定地址 {local}。",
	"call.listen":          "listen() 让 fd {fd} 成为监听套接字（LISTEN）：从此内核会自己在 {local} 上完成握手，并为 accept() 排队最多 {backlog} 个连接。",
	"call.setsockopt":      "setsockopt({option}) 设置一个套接字选项；网络上什么也不发。",
	"call.accept":          "accept() 返回了一个新套接字 fd {ret}，连接着 {remote}。",
	"call.accept.queued":   "accept() 从队列里取出一个已建立的连接：它的握手（第 {frames} 帧）在调用 accept() 之前 {wait} 就完成了。新套接字是 fd {ret}，连接着 {remote}。",
	"call.accept.waited":   "accept() 一直在等客户端；握手（第 {frames} 帧）完成后，它返回了新套接字 fd {ret}，连接着 {remote}。",
	"call.connect":         "connect() 发出 SYN（第 {syn} 帧），收到 SYN-ACK 后返回：握手用了 {dur}。",
	"call.connect.udp":     "UDP 套接字上的 connect() 只记下对方的地址；网络上什么也不发。",
	"call.connect.refused": "connect() 以 ECONNREFUSED 失败：第 {rst} 帧的 RST 表明 {remote} 上没有程序在监听。",
	"call.udp.refused":     "{op}() 以 ECONNREFUSED 失败：第 {frames} 帧的 ICMP 端口不可达报告说，之前的数据报没有程序接收。",
	"call.send":            "send() 把 {n} 字节复制进内核：字节流的第 {first}–{last} 字节，由第 {frames} 帧携带。字节一进入发送缓冲区它就返回，而不是等对方读走。",
	"call.send.untied":     "send() 把 {n} 字节交给了内核。",
	"call.sendto":          "sendto() 向 {remote} 发送一个 {n} 字节的数据报（第 {frames} 帧）；UDP 不维护连接。",
	"call.recv":            "recv() 返回 {n} 字节：字节流的第 {first}–{last} 字节，它们在第 {frames} 帧中到达。TCP 是字节流：一次 recv() 可能只返回一次 send() 的一部分，也可能一次返回好几次 send() 的数据。",
	"call.recv.untied":     "recv() 返回 {n} 字节。",
	"call.recv.eof":        "recv() 返回 0：对方发送了 FIN（第 {fin} 帧）；不会再有数据了。",
	"call.recv.eof.untied": "recv() 返回 0：对方关闭了它那一端；不会再有数据了。",
	"call.recvfrom":        "recvfrom() 从 {remote} 收到一个完整的 {n} 字节数据报（第 {frames} 帧）：UDP 保留消息边界。",
	"call.close":           "close() 释放 fd {fd}；内核发出它的 FIN（第 {fin} 帧），并自己完成关闭过程。",
	"call.close.rst":       "{op}() 发出的是 RST（第 {rst} 帧）而不是 FIN：连接被中止（有未读的数据，或 SO_LINGER 为 0）。",
	"call.close.listener":  "关闭监听套接字：不发任何包；这个端口不再接受连接。",
	"call.close.quiet":     "对 fd {fd} 调用 {op}()：不需要发送报文段。",
	"call.shutdown":        "shutdown({how}) 发出 FIN（第 {fin} 帧），但套接字仍可读：这是半关闭。",
	"call.shutdown.rd":     "shutdown({how})：网络上什么也不发；这一端不再读取。",
	"call.errno":           "{op}() 以 {errno} 失败。",
	"call.generic":         "{op}() 返回 {ret}。",

	// 备注
	"note.capture":                  "捕获到的包数，以及内核丢弃了多少：没有丢包，梯形图就是完整的。",
	"note.summary":                  "用平实的话讲这个连接的经过。",
	"note.other":                    "{text}",
	"note.kernel-disagrees":         "内核说 {ep} 处于 {kernel}，但报文段表明是 {inferred}（连接 {conn}）。",
	"note.kernel-disagrees.call":    "第 {id} 号调用之后，内核说 {ep} 处于 {kernel}，但报文段表明是 {inferred}（连接 {conn}）。",
	"note.kernel-disagrees.explain": "内核自己的看法与从报文段推断出的状态不一致：要么捕获漏了报文段，要么推断有误。sockscope 把它显示出来，而不是隐藏它。",

	// 连接总结
	"summary.refused":         "连接 {id}：被拒绝。{saddr} 上没有程序在监听；那里的内核用 RST 回答了 SYN。",
	"summary.noanswer":        "连接 {id}：没有回应。{client} 发了 {n} 个 SYN，什么也没收到。",
	"summary.nohandshake":     "连接 {id}：握手没有完成。",
	"summary.reset":           "连接 {id}：被{who}重置，此前{client}发送了 {cb} 字节，{server}发送了 {sb} 字节。",
	"summary.normal":          "连接 {id}：正常建立和关闭，{first}先关闭；{client}发送了 {cb} 字节，{server}发送了 {sb} 字节。",
	"summary.simultaneous":    "连接 {id}：正常建立，同时关闭（两个 FIN 交叉而过）；{client}发送了 {cb} 字节，{server}发送了 {sb} 字节。",
	"summary.halfclose":       "连接 {id}：被{first}半关闭：在{first}的 FIN 之后，{second}又发送了 {m} 字节，然后也关闭了。",
	"summary.halfopen":        "连接 {id}：被{first}半关闭；捕获结束时{second}还没有关闭。",
	"summary.open":            "连接 {id}：捕获结束时仍然打开；{client}发送了 {cb} 字节，{server}发送了 {sb} 字节。",
	"summary.midstream":       "捕获开始于它的握手之后。",
	"summary.udp":             "UDP 流 {id}：{client}发送了 {cn} 个数据报，{server}发送了 {sn} 个；没有建立或关闭连接。",
	"summary.udp.unreachable": "一个 ICMP 端口不可达报文说明没有程序在监听。",
}
