"""Free and consumer mail domains: a lead with such an address has no company to infer from it."""

from __future__ import annotations

FREE_MAIL_DOMAINS = frozenset("""
gmail.com googlemail.com yahoo.com yahoo.fr yahoo.co.uk yahoo.es yahoo.it yahoo.de ymail.com rocketmail.com
hotmail.com hotmail.fr hotmail.co.uk hotmail.es hotmail.it hotmail.de hotmail.be live.com live.fr live.co.uk
live.be outlook.com outlook.fr msn.com windowslive.com aol.com aol.fr icloud.com me.com mac.com
protonmail.com proton.me pm.me tutanota.com tuta.io gmx.com gmx.fr gmx.de gmx.net web.de mail.com
yandex.com yandex.ru mail.ru zoho.com fastmail.com hey.com orange.fr wanadoo.fr free.fr sfr.fr neuf.fr
laposte.net bbox.fr numericable.fr club-internet.fr aliceadsl.fr libertysurf.fr noos.fr cegetel.net
skynet.be telenet.be bluewin.ch t-online.de freenet.de arcor.de libero.it virgilio.it tiscali.it alice.it
bol.com.br uol.com.br terra.com.br ig.com.br qq.com 163.com 126.com sina.com naver.com daum.net rediffmail.com
btinternet.com sky.com virginmedia.com comcast.net verizon.net att.net sbcglobal.net cox.net
""".split())


def is_free_mail(domain: str) -> bool:
    return domain.lower() in FREE_MAIL_DOMAINS
